"""manage.py jobs_upwork_connect: the old name of `manage.py jobs upwork-connect`, kept for one release."""

from core.cli import VerbAlias


class Command(VerbAlias):
    group = "jobs.cli.upwork.UpworkVerbs"
    verb = "upwork-connect"
    command = "jobs"
