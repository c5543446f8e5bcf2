"""Screens of the app: the main workstation, help, and modal forms."""
