"""What a package index shows and what a wheel holds: built for real, offline."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
IMAGE_BASE = "https://raw.githubusercontent.com/netbench/netbench/main/"


def requirement(name: str, requirements: list[str]) -> Requirement:
    (found,) = (Requirement(r) for r in requirements if Requirement(r).name == name)
    return found


def test_the_build_requirement_can_read_the_license_expression() -> None:
    # `license = "MIT"` (PEP 639) is read from setuptools 77 on; 68-76 fail the build.
    assert isinstance(PYPROJECT["project"]["license"], str)
    setuptools = requirement("setuptools", PYPROJECT["build-system"]["requires"])
    assert not setuptools.specifier.contains("76.1")
    assert setuptools.specifier.contains("77.0")


def test_textual_has_an_upper_bound() -> None:
    # ui/ reads private Textual attributes (App._keymap, DOMNode._bindings).
    textual = requirement("textual", PYPROJECT["project"]["dependencies"])
    assert not textual.specifier.contains("9.0")
    assert textual.specifier.contains("8.2.8")


def test_readme_images_show_on_the_package_index() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert images
    for url in images:
        assert url.startswith(IMAGE_BASE), url  # a relative link is broken on the index
        assert (ROOT / url.removeprefix(IMAGE_BASE)).is_file(), url


def test_sdist_and_wheel_build_with_the_package_data(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "netbench",
        source / "netbench",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    # Without --sdist/--wheel, build makes the sdist and the wheel from it: both are checked.
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path / "dist")],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("netbench-*.whl")
    (sdist,) = (tmp_path / "dist").glob("netbench-*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    for pattern in (
        r"netbench/assets/.+\.jpg",
        r"netbench/ui/.+\.tcss",
        r"netbench/workshop/scenarios/.+\.toml",
        r"netbench/py\.typed",
        r"netbench-[^/]+\.dist-info/licenses/LICENSE",
    ):
        assert any(re.fullmatch(pattern, name) for name in names), pattern
    (metadata_name,) = (n for n in names if n.endswith(".dist-info/METADATA"))
    metadata = zipfile.ZipFile(wheel).read(metadata_name).decode()
    assert "License-Expression: MIT" in metadata
    assert "Project-URL: Changelog, https://" in metadata
    assert "Classifier: Operating System :: POSIX :: Linux" in metadata
    with tarfile.open(sdist) as archive:
        assert any(name.endswith("/LICENSE") for name in archive.getnames())
    assert Version(PYPROJECT["project"]["version"]).public in wheel.name


def test_every_screenshot_is_shown_somewhere() -> None:
    shown = "\n".join(
        path.read_text(encoding="utf-8") for path in [ROOT / "README.md", *ROOT.glob("docs/*.md")]
    )
    unused = [
        path.name
        for path in sorted((ROOT / "screenshots").glob("*.svg"))
        if f"screenshots/{path.name})" not in shown
    ]
    assert unused == []


def test_the_readme_ladder_is_a_capture() -> None:
    # "captured handshake and teardown", says the README: not the inferred fallback.
    ladder = (ROOT / "screenshots" / "tcp-ladder.svg").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", ladder).replace("&#160;", " ")
    assert "Inferred" not in text
    assert "SYN-ACK" in text and "FIN-ACK" in text
