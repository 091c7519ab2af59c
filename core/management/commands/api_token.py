"""`manage.py api_token create|list|revoke [USERNAME]`: API tokens (hashed, expiring; also in the admin)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.actor import Actor
from core.errors import ApplicationError
from core.models import ApiToken
from core.permissions import token_create, token_revoke, user_roles


class Command(BaseCommand):
    help = (
        "Manage API tokens. `create USERNAME` prints a new token once (send it as 'Authorization: Token KEY'); "
        "only its digest is stored, and it expires after --days (API_TOKEN_TTL_DAYS). `list [USERNAME]` shows "
        "who has one (prefix, expiry, last use); `revoke USERNAME` deletes it. One token per user."
    )

    def add_arguments(self, parser):
        parser.add_argument("verb", choices=["create", "list", "revoke"])
        parser.add_argument("username", nargs="?")
        parser.add_argument("--days", type=int, help="Lifetime of a new token in days (default API_TOKEN_TTL_DAYS).")

    def _user(self, username: str | None):
        if not username:
            raise CommandError("Name the user, e.g. `manage.py api_token create alice`.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user '{username}'. Create it in the admin first.")
        return user

    def handle(self, *args, verb: str, username: str | None, **options):
        if verb == "list":
            tokens = ApiToken.objects.select_related("user").order_by("user__username")
            if username:
                tokens = tokens.filter(user__username=username)
            for token in tokens:
                roles = ",".join(sorted(user_roles(token.user))) or ("staff" if token.user.is_staff else "no role")
                expires = f"{token.expiry:%Y-%m-%d %H:%M}" if token.expiry else "never"
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
                self.stdout.write(
                    f"{token.user.get_username():<20} {token.token_key}…  created {token.created:%Y-%m-%d %H:%M} "
                    f"expires {expires} last used {used} ({roles})"
                )
            if not tokens:
                self.stdout.write("No tokens.")
            return
        user = self._user(username)
        if verb == "create":
            try:
                _token, key = token_create(user=user, actor=Actor.cli(), ttl_days=options["days"])
            except ApplicationError as error:
                raise CommandError(error.message) from None
            if not user.is_staff and not user_roles(user):
                self.stderr.write(
                    f"Note: {username} has no role yet; give one with `manage.py setup_roles --user {username} "
                    "--role viewer` (or operator), else every request answers 403."
                )
            self.stdout.write(key)
        elif not token_revoke(user=user, actor=Actor.cli()):
            raise CommandError(f"User '{username}' has no token.")
        else:
            self.stdout.write(f"Revoked the token of {username}.")
