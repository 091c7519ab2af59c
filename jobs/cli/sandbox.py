"""`manage.py jobs sandbox-setup`: wire the app to the local sandbox marketplace for a demo (never to Upwork)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import requests
from django.apps import apps as django_apps
from django.conf import settings
from django.core.management.base import CommandError

from core.actor import Actor
from core.errors import ApplicationError
from jobs import conf, services
from jobs.models import SearchProfile, SourceKind, Strategy

DEMO_PROFILE = "Sandbox demo"


SANDBOX_SETUP_HELP = (
    "For demos with the sandbox (python -m scripts.sandbox.server): log in to the sandbox and import its "
    "session, connect the sandbox's API stand-in (when UPWORK_CLIENT_ID is set), and create a demo profile."
)


class SandboxVerbs:
    def add_verbs(self, verbs) -> None:
        self.sandbox_setup_arguments(
            verbs.add_parser("sandbox-setup", help=SANDBOX_SETUP_HELP, description=SANDBOX_SETUP_HELP)
        )

    def sandbox_setup_arguments(self, parser) -> None:
        pass  # no options

    def handle_sandbox_setup(self, command, options) -> None:
        from scripts.sandbox.make_state import sandbox_storage_state

        base = conf.base_url()
        if urlparse(base).hostname in {"www.upwork.com", "upwork.com"}:
            raise CommandError(
                "UPWORK_BASE_URL points at Upwork. Start the sandbox and set UPWORK_BASE_URL=http://127.0.0.1:8765."
            )
        try:
            requests.get(f"{base}/__sandbox__/state", timeout=5).raise_for_status()
        except requests.RequestException:
            raise CommandError(
                f"No sandbox answers at {base}; start it with `python -m scripts.sandbox.server --port 8765`."
            ) from None
        try:
            session = services.browser_session_import(
                name="sandbox", storage_state=sandbox_storage_state(base), replace=True, actor=Actor.cli()
            )
            command.stdout.write(f"Imported browser session '{session.name}' from the sandbox login.")
            if settings.UPWORK_CLIENT_ID:
                pending: dict = {}  # this command is both ends of the flow: the pending authorization stays here
                redirect = requests.get(
                    services.oauth_authorization_start(store=pending), allow_redirects=False, timeout=5
                )
                query = parse_qs(urlparse(redirect.headers.get("Location", "")).query)
                if not query.get("code"):
                    raise CommandError("The sandbox did not return an authorization code.")
                services.oauth_connect(code=query["code"][0], state=query["state"][0], store=pending, actor=Actor.cli())
                command.stdout.write("Connected the sandbox's GraphQL API stand-in.")
            else:
                command.stdout.write("API not connected: set UPWORK_CLIENT_ID (any value for the sandbox) to use it.")
        except ApplicationError as error:
            raise CommandError(error.message) from None
        profile, created = SearchProfile.objects.get_or_create(
            name=DEMO_PROFILE,
            defaults={
                "keywords": ["python", "django"],
                "skills": ["Python", "Django", "PostgreSQL"],
                "strategies": [Strategy.KEYWORDS, Strategy.SKILLS],
                "source": SourceKind.AUTO,
                "target_hourly_rate": 50,
                "target_fixed_budget": 1500,
                "max_proposals": 50,
                "handoff_top_n": 3,
            },
        )
        command.stdout.write(
            f"{'Created' if created else 'Kept'} search profile '{profile.name}' (id {profile.id}). "
            f'Next: python manage.py jobs search --profile "{profile.name}"'
        )
        self._demo_freelancer(command)

    def _demo_freelancer(self, command) -> None:
        """Drafting needs a default freelancer profile: make a demo one when there is none (never replace yours)."""
        if not django_apps.is_installed("proposals"):
            return
        from proposals.models import FreelancerProfile

        if FreelancerProfile.objects.filter(is_default=True).exists():
            return
        FreelancerProfile.objects.create(
            name="Demo Freelancer",
            title="Python & Django developer",
            skills=["Python", "Django", "PostgreSQL", "REST APIs"],
            hourly_rate=60,
            bio="Eight years of Python and Django work: APIs, data pipelines and the admin tools around them.",
            achievements=["Cut a Django API's p95 from 900 ms to 120 ms", "Moved a 2 TB database with no downtime"],
            writing_rules="Ask one concrete question about the project.",
            is_default=True,
        )
        command.stdout.write("Created the default freelancer profile 'Demo Freelancer' (edit it under Proposals).")
