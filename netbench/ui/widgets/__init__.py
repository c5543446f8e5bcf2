"""Widgets of the app; each module holds one widget (and its small helpers)."""
