"""The admin: channels added and edited through services with write-only secrets, a send-test action, and a
read-only delivery log; staff with the viewer role cannot add channels."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications.models import Channel, Delivery
from queue_app.models import AuditEntry
from tests.notifications.conftest import BOT_TOKEN
from upwork_automation.permissions import OPERATOR, VIEWER, role_grant

pytestmark = pytest.mark.django_db

ADD = reverse("admin:notifications_channel_add")


def staff(client, django_user_model, role: str):
    user = django_user_model.objects.create_user(username=role, password="pw", is_staff=True)
    role_grant(user=user, role=role)
    client.force_login(user)
    return user


def form(**fields) -> dict:
    data = {"name": "phone", "kind": "telegram", "target": "-100123", "secret": BOT_TOKEN, "enabled": "on"}
    data.update({"events": ["job_alert", "queue_health"], "min_score": "70", "timezone": "Europe/Paris"})
    data.update({"quiet_start": "22:00", "quiet_end": "07:00"})
    data.update(fields)
    return data


def test_an_operator_adds_and_edits_a_channel_and_never_sees_its_secret(client, django_user_model):
    staff(client, django_user_model, OPERATOR)
    response = client.post(ADD, form())
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = Channel.objects.get()
    assert (channel.secret, channel.events, channel.timezone) == (
        BOT_TOKEN,
        ["job_alert", "queue_health"],
        "Europe/Paris",
    )
    change = reverse("admin:notifications_channel_change", args=[channel.pk])
    page = client.get(change).content.decode()
    assert BOT_TOKEN not in page and "-100123" not in page.split('name="target"')[1][:200]
    assert client.post(change, form(secret="", target="", min_score="80")).status_code == 302
    channel.refresh_from_db()
    assert channel.min_score == 80 and channel.secret == BOT_TOKEN and channel.target == "-100123"
    assert AuditEntry.objects.filter(action__in=["channel.create", "channel.update"], source="admin").count() == 2


def test_the_admin_form_shows_the_services_field_errors(client, django_user_model):
    staff(client, django_user_model, OPERATOR)
    response = client.post(ADD, form(secret="not-a-token", target="chat"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "bot token BotFather" in page and "Telegram chat id" in page
    assert not Channel.objects.exists()


def test_send_test_action_and_a_read_only_delivery_log(client, django_user_model, make_channel):
    staff(client, django_user_model, OPERATOR)
    channel = make_channel("slack")
    client.post(
        reverse("admin:notifications_channel_changelist"), {"action": "send_test", "_selected_action": [channel.pk]}
    )
    delivery = Delivery.objects.get(channel=channel, event="test")
    log = client.get(reverse("admin:notifications_delivery_changelist"))
    assert log.status_code == 200 and "Test message" in log.content.decode()
    assert client.get(reverse("admin:notifications_delivery_change", args=[delivery.pk])).status_code == 200
    assert client.post(reverse("admin:notifications_delivery_delete", args=[delivery.pk])).status_code == 403


def test_a_staff_viewer_cannot_add_or_test_channels(client, django_user_model, make_channel):
    staff(client, django_user_model, VIEWER)
    channel = make_channel("slack")
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, form()).status_code == 403
    page = client.get(reverse("admin:notifications_channel_changelist"))
    assert page.status_code == 200 and 'value="send_test"' not in page.content.decode()
    client.post(
        reverse("admin:notifications_channel_changelist"), {"action": "send_test", "_selected_action": [channel.pk]}
    )
    assert not Delivery.objects.exists()
