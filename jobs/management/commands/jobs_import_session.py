"""manage.py jobs_import_session: the old name of `manage.py jobs import-session`, kept for one release."""

from core.cli import VerbAlias


class Command(VerbAlias):
    group = "jobs.cli.sessions.SessionVerbs"
    verb = "import-session"
    command = "jobs"
