"""`manage.py queue <verb>`: the product's queue CLI. Verb groups live in queue_app/cli/."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from core.errors import ApplicationError

# Each entry: an object with add_verbs(subparsers) and handle_<verb>(command, options).
VERB_GROUPS = [
    "queue_app.cli.tasks.TaskVerbs",
    "queue_app.cli.monitoring.MonitoringVerbs",
    "queue_app.cli.schedules.ScheduleVerbs",
    "queue_app.cli.maintenance.MaintenanceVerbs",
]


def describe(error: ApplicationError) -> str:
    """A sentence for the person at the terminal, with the fields that were wrong."""
    details = "; ".join(
        f"{field}: {' '.join(map(str, msgs))}"
        for field, msgs in error.field_errors.items()
        if not all(str(msg) in error.message for msg in msgs)
    )
    return f"{error.message} ({details})" if details else error.message


class Command(BaseCommand):
    help = "Manage the task queue. Run `manage.py queue VERB --help` for a verb's options."

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        self._handlers = {}
        for path in VERB_GROUPS:
            group = import_string(path)()
            before = set(verbs.choices)
            group.add_verbs(verbs)
            for verb in set(verbs.choices) - before:
                self._handlers[verb] = getattr(group, f"handle_{verb.replace('-', '_')}")

    def handle(self, *args, **options):
        handler = self._handlers[options["verb"]]
        try:
            handler(self, options)
        except ApplicationError as error:
            raise CommandError(describe(error)) from None
