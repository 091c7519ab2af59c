"""manage.py jobs_upwork_connect: connect Upwork's API with the OAuth2 authorization-code flow."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs import services
from queue_app.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Without --code: print the URL where you approve API access. After approving, Upwork redirects to "
        "UPWORK_REDIRECT_URI with ?code=...; pass that code as --code=CODE to store the tokens (encrypted)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--code", help="The authorization code from the redirect. Write --code=CODE: a code may start with '-'."
        )
        parser.add_argument("--account", default="default")

    def handle(self, *args, **options):
        if not settings.UPWORK_CLIENT_ID:
            raise CommandError(
                "Set UPWORK_CLIENT_ID and UPWORK_CLIENT_SECRET (from your Upwork API key) before connecting."
            )
        if not options["code"]:
            url = services.oauth_authorization_start(account=options["account"])
            self.stdout.write(f"Open this URL, approve access, then run again with --code=<code>:\n{url}")
            return
        try:
            token = services.oauth_connect(code=options["code"], account=options["account"])
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            self.style.SUCCESS(f"Connected Upwork API account '{token.account}'; token valid until {token.expires_at}.")
        )
