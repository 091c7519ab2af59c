"""Verb groups of `manage.py jobs` (see core/cli.py)."""
