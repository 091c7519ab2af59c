"""Channels through the API (operators write, viewers read, secrets never returned), the CLI, and the audit log."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from notifications.models import Channel, Delivery
from queue_app.models import AuditEntry
from tests.notifications.conftest import BOT_TOKEN, WEBHOOK_SECRET
from upwork_automation.permissions import OPERATOR, VIEWER, role_grant

pytestmark = pytest.mark.django_db

URL = "/api/notifications/channels/"


def client_for(django_user_model, role: str) -> APIClient:
    user = django_user_model.objects.create_user(username=role, password=f"pw-{role}")
    role_grant(user=user, role=role)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def operator_api(django_user_model):
    return client_for(django_user_model, OPERATOR)


@pytest.fixture
def viewer_api(django_user_model):
    return client_for(django_user_model, VIEWER)


SLACK_URL = "https://hooks.slack.com/services/T0SECRET/B0SECRET/xoxsecretpart"


def test_an_operator_adds_a_channel_and_no_response_shows_its_secrets(operator_api, viewer_api):
    created = operator_api.post(
        URL,
        {"name": "hook", "kind": "webhook", "target": SLACK_URL, "secret": WEBHOOK_SECRET, "events": ["job_alert"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.data["target_display"] == "https://hooks.slack.com/…" and created.data["has_secret"] is True
    for response in (
        created,
        operator_api.get(URL),
        viewer_api.get(URL),
        viewer_api.get(f"{URL}{created.data['id']}/"),
    ):
        text = json.dumps(response.data)
        assert WEBHOOK_SECRET not in text and "xoxsecretpart" not in text and "T0SECRET" not in text
    channel = Channel.objects.get()
    assert channel.target == SLACK_URL and channel.secret == WEBHOOK_SECRET
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT target, secret FROM notifications_channel")
        stored = cursor.fetchone()
    assert all(value.startswith("fernet:") for value in stored), "encrypted at rest"
    entry = AuditEntry.objects.get(action="channel.create")
    assert entry.actor_name == OPERATOR and entry.source == "api"
    assert WEBHOOK_SECRET not in json.dumps(entry.after) and "xoxsecretpart" not in json.dumps(entry.after)


def test_a_viewer_cannot_add_change_delete_or_test_channels(viewer_api, make_channel):
    channel = make_channel("slack")
    assert viewer_api.post(URL, {"name": "x", "kind": "slack", "target": SLACK_URL}, format="json").status_code == 403
    assert viewer_api.patch(f"{URL}{channel.pk}/", {"enabled": False}, format="json").status_code == 403
    assert viewer_api.delete(f"{URL}{channel.pk}/").status_code == 403
    assert viewer_api.post(f"{URL}{channel.pk}/test/").status_code == 403
    assert viewer_api.get("/api/notifications/deliveries/").status_code == 200


def test_bad_input_is_a_400_with_field_errors(operator_api):
    cases = [
        ({"name": "t", "kind": "telegram", "target": "not a chat", "secret": "nope"}, {"target", "secret"}),
        ({"name": "w", "kind": "webhook", "target": "javascript:alert(1)", "secret": "short"}, {"target", "secret"}),
        ({"name": "e", "kind": "email", "target": "me@"}, {"target"}),
        ({"name": "s", "kind": "slack", "target": SLACK_URL, "events": ["nope"]}, {"events"}),
        ({"name": "s", "kind": "slack", "target": SLACK_URL, "timezone": "Mars/Olympus"}, {"timezone"}),
        ({"name": "s", "kind": "slack", "target": SLACK_URL, "min_score": 101}, {"min_score"}),
        ({"name": "s", "kind": "fax", "target": SLACK_URL}, {"kind"}),
    ]
    for body, fields in cases:
        response = operator_api.post(URL, body, format="json")
        assert response.status_code == 400, (body, response.content)
        text = json.dumps(response.json())
        assert all(field in text for field in fields), (body, text)
    assert not Channel.objects.exists()


def test_update_keeps_the_secret_unless_given_and_audits_a_changed_secret_by_name(operator_api, make_channel):
    channel = make_channel("telegram")
    response = operator_api.patch(f"{URL}{channel.pk}/", {"min_score": 70, "secret": ""}, format="json")
    assert response.status_code == 200, response.content
    channel.refresh_from_db()
    assert channel.min_score == 70 and channel.secret == BOT_TOKEN
    new_token = "987654321:BBAnotherFakeTokenForTests_xyz"
    operator_api.patch(f"{URL}{channel.pk}/", {"secret": new_token}, format="json")
    channel.refresh_from_db()
    assert channel.secret == new_token
    entry = AuditEntry.objects.filter(action="channel.update").latest("created_at")
    assert entry.after == {"secret": "<changed>"} and new_token not in json.dumps(entry.before)


def test_send_test_through_the_api_queues_a_delivery(operator_api, make_channel):
    channel = make_channel("slack")
    response = operator_api.post(f"{URL}{channel.pk}/test/")
    assert response.status_code == 202 and response.data["event"] == "test"
    assert Delivery.objects.get().channel == channel
    assert AuditEntry.objects.filter(action="channel.test", object_id=str(channel.pk)).exists()
    deliveries = operator_api.get("/api/notifications/deliveries/").data
    assert deliveries["results"][0]["channel_name"] == channel.name
    assert operator_api.delete(f"{URL}{channel.pk}/").status_code == 204
    assert AuditEntry.objects.filter(action="channel.delete").exists()


def run(*args: str) -> str:
    out = StringIO()
    call_command("notify", *args, stdout=out)
    return out.getvalue()


def test_cli_add_list_test_remove(receivers):
    slack = f"{receivers.url}/slack/T1/B1/secretpart"
    assert "Added channel 'team'" in run(
        "channels", "add", "team", "--kind", "slack", "--target", slack, "--events", "job_alert", "queue_health"
    )
    run("channels", "add", "bot", "--kind", "telegram", "--target", "-100123", "--secret", BOT_TOKEN)
    run("channels", "add", "night", "--kind", "email", "--target", "me@example.com", "--quiet", "22:00-07:00")
    listing = run("channels", "list")
    assert "team\tslack\thttp://127.0.0.1" in listing and "secretpart" not in listing and BOT_TOKEN not in listing
    assert "quiet 22:00-07:00 UTC" in listing
    assert Channel.objects.get(name="team").events == ["job_alert", "queue_health"]
    assert "Queued test message" in run("channels", "test", "team")
    assert Delivery.objects.filter(channel__name="team", event="test").exists()
    assert "Removed channel 'bot'" in run("channels", "remove", "bot")
    assert set(Channel.objects.values_list("name", flat=True)) == {"team", "night"}
    assert AuditEntry.objects.filter(action="channel.create", source="cli").count() == 3


def test_cli_bad_input_says_what_to_do(db):
    with pytest.raises(CommandError, match="bot token BotFather"):
        run("channels", "add", "bot", "--kind", "telegram", "--target", "-100123")
    with pytest.raises(CommandError, match="No channel named 'ghost'"):
        run("channels", "test", "ghost")
    with pytest.raises(CommandError, match="HH:MM"):
        run("channels", "add", "x", "--kind", "email", "--target", "a@b.co", "--quiet", "late-early")
    run("channels", "add", "dup", "--kind", "email", "--target", "a@b.co")
    with pytest.raises(CommandError, match="exists already"):
        run("channels", "add", "dup", "--kind", "email", "--target", "a@b.co")
