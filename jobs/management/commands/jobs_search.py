"""manage.py jobs_search: the old name of `manage.py jobs search`, kept for one release."""

from core.cli import VerbAlias


class Command(VerbAlias):
    group = "jobs.cli.search.SearchVerbs"
    verb = "search"
    command = "jobs"
