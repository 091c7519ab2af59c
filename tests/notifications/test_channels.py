"""Each channel against its stand-in: Slack mrkdwn and Telegram HTML escape job text, email, signed webhooks."""

from __future__ import annotations

import pytest
from django.core import mail

from notifications.models import Delivery, DeliveryStatus
from notifications.services import notify_job_alert
from tests.notifications.conftest import BOT_TOKEN, received, run_pending_sends

pytestmark = pytest.mark.django_db(transaction=True)


def test_slack_message_is_mrkdwn_with_job_text_escaped(make_channel, alert_job, receivers):
    make_channel("slack", events=["job_alert"])
    notify_job_alert(alert_job)
    assert run_pending_sends()[0]["outcome"] == "sent"
    [message] = received(receivers)
    assert message["path"] == "/slack/T000/B000/XXXX" and message["answered"] == 200
    text = message["json"]["text"]
    assert "*86/100 · Fix &lt;script&gt; &amp; Django &gt; 5 upgrade*" in text
    assert "<script>" not in text and "skills 3/3 &lt;Django&gt;" in text
    assert "*Budget:* Fixed $1,500" in text
    assert "*Client:* payment verified, $25,000 spent, 12 hires, 4.90★ (8 reviews), Germany" in text
    assert "*Proposals:* Less than 5" in text and "*Posted:* 3 min ago" in text
    assert f"<http://app.example/admin/jobs/job/{alert_job.pk}/change/|Shortlist / draft in the admin>" in text
    assert "<https://www.upwork.com/jobs/~01alertjob|Open on Upwork>" in text
    assert message["json"]["blocks"][0]["text"]["type"] == "mrkdwn"


def test_telegram_sendmessage_in_html_mode_escapes_job_text(make_channel, alert_job, receivers):
    make_channel("telegram", events=["job_alert"])
    notify_job_alert(alert_job)
    assert run_pending_sends()[0]["outcome"] == "sent"
    [message] = received(receivers)
    assert message["path"] == f"/bot{BOT_TOKEN}/sendMessage"
    body = message["json"]
    assert body["chat_id"] == "-1001234567890" and body["parse_mode"] == "HTML"
    assert "<b>86/100 · Fix &lt;script&gt; &amp; Django &gt; 5 upgrade</b>" in body["text"]
    assert f'<a href="http://app.example/admin/jobs/job/{alert_job.pk}/change/">' in body["text"]
    assert message["answered"] == 200  # the stand-in parses the HTML as Telegram does


def test_the_telegram_stand_in_refuses_unescaped_html_like_telegram(receivers):
    import requests

    reply = requests.post(
        f"{receivers.url}/bot{BOT_TOKEN}/sendMessage",
        json={"chat_id": "1", "text": "<b>Fix <script> & co</b>", "parse_mode": "HTML"},
        timeout=5,
    )
    assert reply.status_code == 400 and "can't parse entities" in reply.json()["description"]


def test_email_goes_through_djangos_email_framework(make_channel, alert_job, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "alerts@example.com"
    make_channel("email", target="me@example.com, partner@example.com", events=["job_alert"])
    notify_job_alert(alert_job)
    assert run_pending_sends()[0]["outcome"] == "sent"
    [email] = mail.outbox
    assert email.to == ["me@example.com", "partner@example.com"] and email.from_email == "alerts@example.com"
    assert email.subject == "86/100 · Fix <script> & Django > 5 upgrade"
    assert (
        "Budget: Fixed $1,500" in email.body and "Open on Upwork: https://www.upwork.com/jobs/~01alertjob" in email.body
    )
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html" and "Fix &lt;script&gt; &amp; Django &gt; 5 upgrade" in html
    assert Delivery.objects.get().last_status_code == 250


def test_the_webhook_signature_verifies_with_the_documented_snippet(make_channel, alert_job, receivers):
    """docs/notifications.md's verification code, run as a receiver would run it."""
    import re
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"
    snippet = re.search(r"```python\n(# verify-webhook.*?)```", docs.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(snippet, "docs/notifications.md", "exec"), namespace)  # noqa: S102 - our own documentation
    make_channel("webhook", events=["job_alert"])
    notify_job_alert(alert_job)
    run_pending_sends()
    [hook] = received(receivers)
    header, raw = hook["headers"]["X-Signature"], hook["body"].encode()
    assert namespace["verify"](raw, header, "whsec-test-0123456789abcdef")
    assert not namespace["verify"](raw.replace(b"86", b"99"), header, "whsec-test-0123456789abcdef")
    assert not namespace["verify"](raw, header, "another-secret-0123456789")
    assert hook["headers"]["X-Notification-Event"] == "job_alert"


def test_send_test_reaches_a_channel_whatever_its_events(make_channel, receivers):
    from notifications.services import channel_send_test

    channel = make_channel("slack", events=[])
    delivery = channel_send_test(channel_id=channel.pk)
    run_pending_sends()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    [message] = received(receivers)
    assert "Test message for 'slack-channel'" in message["json"]["text"]
    assert "&lt;b&gt;Tags&lt;/b&gt; &amp; symbols" in message["json"]["text"]
