"""`python -m netbench` runs the same entry point as the `netbench` script."""

from __future__ import annotations

import sys

from netbench.cli import main

sys.exit(main())
