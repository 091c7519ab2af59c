"""Verb groups of `manage.py jobs` (see upwork_automation/cli.py)."""
