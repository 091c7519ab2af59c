"""`manage.py create_admin`: make sure one superuser exists and say where its password is (safe to run every start).

A generated password is written to a file only its owner can read (0600), never to stdout: terminal
scrollback, CI and container logs keep what a command prints."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

DEFAULT_PASSWORD_FILE = ".data/admin-password"  # noqa: S105 - a path, not a password


def password_from_file(path: Path) -> str:
    """The password kept in `path`; a new random one is generated and stored (mode 0600) if the file is missing."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # a copy made readable to others by hand is closed again
        password = path.read_text().strip()
        if not password:
            raise CommandError(f"{path} is empty: delete it to generate a new admin password, or set ADMIN_PASSWORD.")
        return password
    password = secrets.token_urlsafe(15)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
    return password


class Command(BaseCommand):
    help = (
        "Create the admin superuser if it is missing (username from ADMIN_USERNAME, default 'admin'; password from "
        "ADMIN_PASSWORD, else generated once and kept in .data/admin-password). Running it again changes nothing "
        "unless the password changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", help="Username (default: ADMIN_USERNAME, else 'admin').")
        parser.add_argument("--email", default=os.environ.get("ADMIN_EMAIL", ""), help="Email (default ADMIN_EMAIL).")
        parser.add_argument(
            "--password-file",
            help=f"Where a generated password is kept (default {DEFAULT_PASSWORD_FILE} under the project folder).",
        )

    def handle(self, *args, **options):
        username = (options["username"] or os.environ.get("ADMIN_USERNAME") or "admin").strip()
        if not username:
            raise CommandError("The admin username is empty: set ADMIN_USERNAME or pass --username.")
        password_file = Path(options["password_file"] or Path(settings.BASE_DIR) / DEFAULT_PASSWORD_FILE)
        from_env = bool(os.environ.get("ADMIN_PASSWORD"))
        password = os.environ["ADMIN_PASSWORD"] if from_env else password_from_file(password_file)

        user_model = get_user_model()
        with transaction.atomic():
            user, created = user_model.objects.select_for_update().get_or_create(
                **{user_model.USERNAME_FIELD: username},
                defaults={"email": options["email"], "is_staff": True, "is_superuser": True},
            )
            changes = []
            if created or not user.check_password(password):
                user.set_password(password)
                changes.append("password")
            if not (user.is_staff and user.is_superuser and user.is_active):
                user.is_staff = user.is_superuser = user.is_active = True
                changes.append("staff rights")
            if created or changes:
                user.save()

        if created:
            self.stdout.write(f"Created admin user '{username}'.")
        elif changes:
            self.stdout.write(f"Admin user '{username}' already existed; updated its {' and '.join(changes)}.")
        else:
            self.stdout.write(f"Admin user '{username}' already exists; nothing changed.")
        source = "ADMIN_PASSWORD" if from_env else f"{password_file} (readable by its owner only)"
        self.stdout.write(f"Admin login: username {username}, the password in {source}")
