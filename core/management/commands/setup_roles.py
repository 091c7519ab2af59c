"""`manage.py setup_roles`: create the viewer and operator groups (safe to run again); optionally give a user a role."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.actor import Actor
from core.permissions import OPERATOR, ROLES, VIEWER, role_grant, roles_ensure


class Command(BaseCommand):
    help = (
        f"Create the API roles as groups with their model permissions: '{VIEWER}' (read-only) and "
        f"'{OPERATOR}' (also enqueue, cancel, retry, edit schedules). Running it again resets their permissions. "
        "With --user and --role, also give that user the role."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Username to give a role to.")
        parser.add_argument("--role", choices=ROLES, help="The role for --user.")

    def handle(self, *args, **options):
        if bool(options["user"]) != bool(options["role"]):
            raise CommandError("Give --user and --role together, e.g. --user alice --role operator.")
        groups = roles_ensure(actor=Actor.cli())
        for name, group in groups.items():
            self.stdout.write(f"Role {name}: group with {group.permissions.count()} model permission(s).")
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(
                    f"No user '{options['user']}'. Create it first (manage.py createsuperuser or admin)."
                )
            role_grant(user=user, role=options["role"], actor=Actor.cli())
            self.stdout.write(self.style.SUCCESS(f"{user.get_username()} now has the {options['role']} role."))
