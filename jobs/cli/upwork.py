"""`manage.py jobs upwork-connect`: connect Upwork's API with the OAuth2 authorization-code flow."""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import CommandError

from core.actor import Actor
from core.errors import ApplicationError
from jobs import services

UPWORK_CONNECT_HELP = (
    "Without --code: print the URL where you approve API access. After approving, Upwork redirects to "
    "UPWORK_REDIRECT_URI with ?code=...&state=...; pass both as --code=CODE --state=STATE to store the tokens "
    "(encrypted). The pending authorization (PKCE verifier) is kept in a server-side session for ten minutes "
    "and can be used once. --disconnect forgets the stored tokens."
)


class UpworkVerbs:
    def add_verbs(self, verbs) -> None:
        self.upwork_connect_arguments(
            verbs.add_parser("upwork-connect", help=UPWORK_CONNECT_HELP, description=UPWORK_CONNECT_HELP)
        )

    def upwork_connect_arguments(self, parser) -> None:
        parser.add_argument(
            "--code", help="The authorization code from the redirect. Write --code=CODE: a code may start with '-'."
        )
        parser.add_argument("--state", help="The state from the same redirect. Write --state=STATE.")
        parser.add_argument("--account", default="default")
        parser.add_argument("--disconnect", action="store_true", help="Forget the stored tokens of --account.")

    def handle_upwork_connect(self, command, options) -> None:
        if options["disconnect"]:
            if not services.oauth_disconnect(account=options["account"], actor=Actor.cli()):
                raise CommandError(f"Upwork account '{options['account']}' is not connected.")
            command.stdout.write(f"Disconnected Upwork API account '{options['account']}'.")
            return
        if not settings.UPWORK_CLIENT_ID:
            raise CommandError(
                "Set UPWORK_CLIENT_ID and UPWORK_CLIENT_SECRET (from your Upwork API key) before connecting."
            )
        if not options["code"]:
            store = SessionStore()  # a server-side session row of its own keeps the nonce and PKCE verifier
            store.set_expiry(services.OAUTH_STATE_MAX_AGE)
            store.create()
            url = services.oauth_authorization_start(
                store=store, account=options["account"], store_key=store.session_key
            )
            store.save()
            command.stdout.write(
                "Open this URL, approve access, then run again with --code=<code> --state=<state> "
                f"from the address you are sent to:\n{url}"
            )
            return
        if not options["state"]:
            raise CommandError("Give --state=STATE too: it is in the same redirect address as the code.")
        try:
            payload = services.oauth_state_payload(state=options["state"])
            store = SessionStore(session_key=payload.get("store") or None)
            try:
                token = services.oauth_connect(
                    code=options["code"], state=options["state"], store=store, actor=Actor.cli()
                )
            finally:
                if store.session_key:
                    store.delete()  # used once, whatever the outcome
        except ApplicationError as error:
            raise CommandError(error.message) from None
        command.stdout.write(
            command.style.SUCCESS(
                f"Connected Upwork API account '{token.account}'; token valid until {token.expires_at}."
            )
        )
