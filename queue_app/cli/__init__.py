"""Verb groups of `manage.py queue`; each module exposes an object with add_verbs() and handle_<verb>()."""
