"""`manage.py jobs import-session --file state.json`: store a logged-in browser session (cookies, never a password)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

from core.actor import Actor
from core.errors import ApplicationError
from jobs import services

IMPORT_SESSION_HELP = (
    "Import a Playwright storage state (log in to Upwork in a browser, then export it with "
    "context.storage_state(path='state.json')). The file is stored encrypted; delete it afterwards."
)


class SessionVerbs:
    def add_verbs(self, verbs) -> None:
        self.import_session_arguments(
            verbs.add_parser("import-session", help=IMPORT_SESSION_HELP, description=IMPORT_SESSION_HELP)
        )

    def import_session_arguments(self, parser) -> None:
        parser.add_argument("--file", required=True, help="Path to the storage state JSON file.")
        parser.add_argument("--name", default="default", help="A label for the session (default: 'default').")
        parser.add_argument("--replace", action="store_true", help="Overwrite a session with the same name.")
        parser.add_argument("--expires-at", help="ISO time the session expires (default: from its cookies).")

    def handle_import_session(self, command, options) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No file at {path}. Export one with Playwright's context.storage_state(path=...).")
        expires_at = None
        if options["expires_at"]:
            expires_at = parse_datetime(options["expires_at"])
            if expires_at is None or expires_at.tzinfo is None:
                raise CommandError("--expires-at needs an ISO time with a time zone, e.g. 2026-12-31T00:00:00+00:00.")
        try:
            session = services.browser_session_import(
                name=options["name"],
                storage_state=path.read_text(),
                expires_at=expires_at,
                replace=options["replace"],
                actor=Actor.cli(),
            )
        except ApplicationError as error:
            raise CommandError(error.message) from None
        command.stdout.write(
            command.style.SUCCESS(
                f"Imported browser session '{session.name}' (id {session.id}) with "
                f"{len(session.storage_state_dict()['cookies'])} cookie(s) for {', '.join(session.cookie_domains)}; "
                f"expires {session.expires_at:%Y-%m-%d %H:%M} UTC."
            )
        )
