"""Fixtures for notifications: the sandbox's Slack / Telegram / webhook receivers on 127.0.0.1, channels, jobs."""

from __future__ import annotations

import pytest
import requests
from model_bakery import baker

from scripts.sandbox.server import SandboxServer, start_sandbox

BOT_TOKEN = "123456789:AAFakeSandboxTokenForTests_abcdefghij"
WEBHOOK_SECRET = "whsec-test-0123456789abcdef"


@pytest.fixture(scope="session")
def receiver_server():
    server = start_sandbox()
    yield server
    server.stop()


@pytest.fixture
def receivers(receiver_server, settings) -> SandboxServer:
    """The sandbox with its receivers emptied; Telegram's API pointed at it; no pacing or backoff waits."""
    receiver_server.state.receivers.reset()
    settings.TELEGRAM_API_URL = receiver_server.url
    settings.NOTIFY_SITE_URL = "http://app.example"
    settings.NOTIFY_MIN_INTERVAL = 0.0
    settings.NOTIFY_HTTP_TIMEOUT = 5
    return receiver_server


def received(server: SandboxServer) -> list[dict]:
    return requests.get(f"{server.url}/__sandbox__/notifications", timeout=5).json()


def fail_next(server: SandboxServer, **rule) -> None:
    requests.post(f"{server.url}/__sandbox__/notifications/fail", json=rule, timeout=5).raise_for_status()


@pytest.fixture
def make_channel(db, receivers):
    from notifications import services

    def make(kind: str = "webhook", name: str | None = None, **fields):
        defaults = {
            "slack": {"target": f"{receivers.url}/slack/T000/B000/XXXX"},
            "webhook": {"target": f"{receivers.url}/hooks/leads", "secret": WEBHOOK_SECRET},
            "telegram": {"target": "-1001234567890", "secret": BOT_TOKEN},
            "email": {"target": "me@example.com"},
        }[kind]
        return services.channel_create(name=name or f"{kind}-channel", kind=kind, **{**defaults, **fields})

    return make


@pytest.fixture
def alert_job(db):
    """A job that passed its profile's filters with a score above the profile's alert threshold."""
    from django.utils import timezone

    profile = baker.make("jobs.SearchProfile", name="Django backend", alert_threshold=70)
    return baker.make(
        "jobs.Job",
        upwork_id="~01alertjob",
        url="https://www.upwork.com/jobs/~01alertjob",
        title="Fix <script> & Django > 5 upgrade",
        job_type="fixed",
        budget=1500,
        client_payment_verified=True,
        client_total_spent=25000,
        client_hires=12,
        client_rating="4.90",
        client_reviews=8,
        client_country="Germany",
        proposals_tier="Less than 5",
        posted_at=timezone.now() - timezone.timedelta(minutes=3),
        profile=profile,
        passed_filters=True,
        score=86,
        score_breakdown={
            "fit": {"value": 0.9, "weight": 30, "points": 27.0, "reason": "skills 3/3 <Django>"},
            "client": {"value": 0.8, "weight": 20, "points": 16.0, "reason": "verified, $25k spent"},
            "budget": {"value": 1.0, "weight": 20, "points": 20.0, "reason": "at or above target"},
            "clarity": {"value": 0.5, "weight": 10, "points": 5.0, "reason": "short"},
        },
    )


def run_pending_sends() -> list[dict]:
    """Run every queued send_notification task's handler in this process, oldest first (no worker, no waits)."""
    from notifications.services import delivery_send
    from queue_app.models import Task

    outcomes = []
    for task in Task.objects.filter(task_type="send_notification", status__in=["queued", "scheduled"]).order_by(
        "created_at"
    ):
        outcomes.append(delivery_send(delivery_id=task.payload["delivery_id"]))
        Task.objects.filter(pk=task.pk).update(status="succeeded")
    return outcomes
