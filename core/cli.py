"""`manage.py <app> <verb>`: one command per app, its verbs in groups under `<app>/cli/`, old names as aliases.

A verb group is a class with `add_verbs(verbs)` (adds its subparsers), `<verb>_arguments(parser)` per verb
(so an alias can take the same options) and `handle_<verb>(command, options)`; verbs are spelt with dashes,
their methods with underscores. `manage.py queue` follows the same shape.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from core.errors import ApplicationError


def describe(error: ApplicationError) -> str:
    """A sentence for the person at the terminal, with the fields that were wrong."""
    details = "; ".join(
        f"{field}: {' '.join(map(str, msgs))}"
        for field, msgs in error.field_errors.items()
        if not all(str(msg) in error.message for msg in msgs)
    )
    return f"{error.message} ({details})" if details else error.message


def _method(verb: str) -> str:
    return verb.replace("-", "_")


class VerbCommand(BaseCommand):
    """`manage.py <app> VERB`: the verbs of every group in `verb_groups` (dotted paths)."""

    verb_groups: list[str] = []

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        self._handlers = {}
        for path in self.verb_groups:
            group = import_string(path)()
            before = set(verbs.choices)
            group.add_verbs(verbs)
            for verb in set(verbs.choices) - before:
                self._handlers[verb] = getattr(group, f"handle_{_method(verb)}")

    def handle(self, *args, **options):
        try:
            self._handlers[options["verb"]](self, options)
        except ApplicationError as error:
            raise CommandError(describe(error)) from None


class VerbAlias(BaseCommand):
    """An old command name kept for a release: the same options, one line on stderr naming the new spelling."""

    group: str = ""  # dotted path of the verb group
    verb: str = ""
    command: str = ""  # the app command the verb belongs to, e.g. "jobs"

    def create_parser(self, prog_name, subcommand, **kwargs):
        self._group = import_string(self.group)()
        self.help = f"Deprecated: use `manage.py {self.command} {self.verb}`."
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        getattr(self._group, f"{_method(self.verb)}_arguments")(parser)

    def handle(self, *args, **options):
        self.stderr.write(f"Deprecated: this command is now `manage.py {self.command} {self.verb}`.")
        try:
            getattr(self._group, f"handle_{_method(self.verb)}")(self, options)
        except ApplicationError as error:
            raise CommandError(describe(error)) from None
