"""One sender per channel kind: format the delivery, call the service, and classify what went wrong.

A sender returns the HTTP status (or 250 for email) or raises SendFailed: retryable for timeouts, connection
errors, 5xx and 429 (with the Retry-After the service asked for); permanent for other 4xx, with the service's message.
"""

from __future__ import annotations

import json
import smtplib
import time
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from notifications import messages
from notifications.models import Channel, ChannelKind, Delivery
from notifications.signature import sign


class SendFailed(Exception):
    def __init__(
        self, message: str, *, retryable: bool, status_code: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            return max((parsedate_to_datetime(value) - timezone.now()).total_seconds(), 0.0)
        except (TypeError, ValueError):
            return None


def _service_message(response: requests.Response) -> str:
    """What the service said: Telegram's description, Slack's plain-text body, or the start of any body."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for name in ("description", "error", "message"):
            if data.get(name):
                return str(data[name])[:500]
    return (response.text or response.reason or "").strip()[:500]


def _post(url: str, *, body: bytes, headers: dict) -> int:
    try:
        response = requests.post(url, data=body, headers=headers, timeout=settings.NOTIFY_HTTP_TIMEOUT)
    except requests.Timeout:
        raise SendFailed("Timed out waiting for the service.", retryable=True) from None
    except requests.ConnectionError as error:
        raise SendFailed(f"Could not connect: {type(error).__name__}.", retryable=True) from None
    code = response.status_code
    if code < 300:
        return code
    said = _service_message(response)
    if code == 429:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            try:  # Telegram puts it in the body
                retry_after = float(response.json().get("parameters", {}).get("retry_after"))
            except (ValueError, TypeError, AttributeError):
                retry_after = None
        raise SendFailed(f"429 Too Many Requests: {said}", retryable=True, status_code=code, retry_after=retry_after)
    if code >= 500:
        raise SendFailed(f"{code} from the service: {said}", retryable=True, status_code=code)
    raise SendFailed(f"{code} from the service: {said}", retryable=False, status_code=code)


def _json(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":"), default=str).encode()


def send_slack(channel: Channel, delivery: Delivery) -> int:
    message = messages.build_message(event=delivery.event, subject=delivery.subject, payload=delivery.payload)
    return _post(channel.target, body=_json(messages.slack_body(message)), headers={"Content-Type": "application/json"})


def send_telegram(channel: Channel, delivery: Delivery) -> int:
    message = messages.build_message(event=delivery.event, subject=delivery.subject, payload=delivery.payload)
    url = f"{settings.TELEGRAM_API_URL.rstrip('/')}/bot{channel.secret}/sendMessage"
    body = {
        "chat_id": channel.target,
        "text": messages.telegram_html(message),
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    try:
        return _post(url, body=_json(body), headers={"Content-Type": "application/json"})
    except SendFailed as failed:
        failed.message = failed.message.replace(channel.secret, "<bot token>")  # never log the token in the URL
        raise


def webhook_body(delivery: Delivery) -> dict:
    return {
        "id": delivery.pk,
        "event": delivery.event,
        "key": delivery.key,
        "subject": delivery.subject,
        "score": delivery.score,
        "urgent": delivery.urgent,
        "payload": delivery.payload,
        "created_at": delivery.created_at.isoformat(),
    }


def send_webhook(channel: Channel, delivery: Delivery) -> int:
    body = _json(webhook_body(delivery))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "upwork-automation-notifications/1",
        "X-Notification-Event": delivery.event,
        "X-Notification-Id": str(delivery.pk),
        "X-Signature": sign(secret=channel.secret, body=body, timestamp=int(time.time())),
    }
    return _post(channel.target, body=body, headers=headers)


def send_email(channel: Channel, delivery: Delivery) -> int:
    message = messages.build_message(event=delivery.event, subject=delivery.subject, payload=delivery.payload)
    recipients = [address.strip() for address in channel.target.split(",") if address.strip()]
    email = EmailMultiAlternatives(
        subject=delivery.subject[:200], body=message.plain_text(), from_email=settings.DEFAULT_FROM_EMAIL, to=recipients
    )
    email.attach_alternative(messages.email_html(message), "text/html")
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as error:
        raise SendFailed(f"Recipients refused: {error.recipients}", retryable=False, status_code=550) from None
    except smtplib.SMTPResponseException as error:
        said = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        retryable = error.smtp_code < 500
        raise SendFailed(f"SMTP {error.smtp_code}: {said}", retryable=retryable, status_code=error.smtp_code) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        raise SendFailed(f"SMTP server unreachable: {type(error).__name__}: {error}", retryable=True) from None
    return 250


SENDERS = {
    ChannelKind.SLACK: send_slack,
    ChannelKind.TELEGRAM: send_telegram,
    ChannelKind.EMAIL: send_email,
    ChannelKind.WEBHOOK: send_webhook,
}


def send(channel: Channel, delivery: Delivery) -> int:
    return SENDERS[channel.kind](channel, delivery)
