"""`manage.py jobs <verb>`: search Upwork, import a browser session, connect the API, set up the sandbox."""

from __future__ import annotations

from core.cli import VerbCommand


class Command(VerbCommand):
    help = "Jobs: search, import-session, upwork-connect, sandbox-setup. `manage.py jobs VERB --help` for options."
    verb_groups = [
        "jobs.cli.search.SearchVerbs",
        "jobs.cli.sessions.SessionVerbs",
        "jobs.cli.upwork.UpworkVerbs",
        "jobs.cli.sandbox.SandboxVerbs",
    ]
