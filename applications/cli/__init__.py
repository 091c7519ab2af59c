"""Verb groups of `manage.py applications` (see upwork_automation/cli.py)."""
