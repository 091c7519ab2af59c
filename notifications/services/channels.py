"""Channel set-up by a person (API, admin, CLI): create, update, delete, send a test; each write audited.

The target and the secret are validated here, stored encrypted (models.Channel), and never copied into the audit
log or any response: the audit shows a masked target and whether a secret is set.
"""

from __future__ import annotations

import re
import uuid
from datetime import time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Channel, ChannelKind, Delivery, DeliveryStatus, Event
from notifications.services.publish import enqueue_delivery
from queue_app.audit import audit_record
from queue_app.errors import NotFound, ValidationFailed
from queue_app.models import TaskSource
from upwork_automation.weblinks import is_http_url

TELEGRAM_CHAT = re.compile(r"^(-?\d{1,20}|@[A-Za-z0-9_]{5,32})$")
TELEGRAM_TOKEN = re.compile(r"^\d{3,12}:[A-Za-z0-9_-]{20,64}$")
FIELDS = ("name", "kind", "target", "secret", "enabled", "events", "min_score", "timezone", "quiet_start", "quiet_end")


def mask_target(channel: Channel) -> str:
    """What may be shown of the target: an email address or chat id as is, a URL as scheme://host/…"""
    if channel.kind in (ChannelKind.SLACK, ChannelKind.WEBHOOK):
        parts = urlsplit(channel.target or "")
        return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else ""
    return channel.target


def _view(channel: Channel) -> dict[str, Any]:
    """The audit view: no target URL (a Slack URL is a credential), no secret."""
    return {
        "name": channel.name,
        "kind": channel.kind,
        "target": mask_target(channel),
        "secret": "<set>" if channel.secret else "",
        "enabled": channel.enabled,
        "events": channel.events,
        "min_score": channel.min_score,
        "timezone": channel.timezone,
        "quiet_start": channel.quiet_start,
        "quiet_end": channel.quiet_end,
    }


def channel_check(channel: Channel) -> None:
    """Raise ValidationFailed (field errors) when the unsaved channel is not valid; the admin form shows them."""
    _validate(channel)


def _validate(channel: Channel) -> None:
    errors: dict[str, list[str]] = {}
    name = (channel.name or "").strip()
    if not name:
        errors["name"] = ["Give the channel a name."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    if channel.kind not in ChannelKind.values:
        errors["kind"] = [f"Use one of: {', '.join(ChannelKind.values)}."]
    target = (channel.target or "").strip()
    if channel.kind in (ChannelKind.SLACK, ChannelKind.WEBHOOK) and not is_http_url(target):
        errors["target"] = ["Enter the http:// or https:// URL to post to."]
    elif channel.kind == ChannelKind.TELEGRAM and not TELEGRAM_CHAT.match(target):
        errors["target"] = ["Enter the Telegram chat id (a number such as -1001234567890, or @channelname)."]
    elif channel.kind == ChannelKind.EMAIL:
        addresses = [address.strip() for address in target.split(",") if address.strip()]
        try:
            if not addresses:
                raise ValidationError("empty")
            for address in addresses:
                validate_email(address)
        except ValidationError:
            errors["target"] = ["Enter one or more email addresses, separated by commas."]
    if channel.kind == ChannelKind.TELEGRAM and not TELEGRAM_TOKEN.match(channel.secret or ""):
        errors["secret"] = ["Enter the bot token BotFather gave you (e.g. 123456789:AA...)."]
    if channel.kind == ChannelKind.WEBHOOK and len(channel.secret or "") < 16:
        errors["secret"] = ["Enter a signing secret of at least 16 characters (it signs X-Signature)."]
    if not isinstance(channel.events, list) or not all(isinstance(event, str) for event in channel.events):
        errors["events"] = ["A list of event names."]
    else:
        unknown = sorted(set(channel.events) - set(Event.values) - {Event.TEST})
        if unknown:
            errors["events"] = [f"Unknown event(s): {', '.join(unknown)}. Known: {', '.join(Event.values)}."]
    if not isinstance(channel.min_score, int) or not 0 <= channel.min_score <= 100:
        errors["min_score"] = ["A whole number from 0 to 100."]
    try:
        ZoneInfo(channel.timezone or "")
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = ["Enter an IANA time zone such as Europe/Paris or UTC."]
    if (channel.quiet_start is None) != (channel.quiet_end is None):
        errors["quiet_end" if channel.quiet_end is None else "quiet_start"] = ["Give both ends of the quiet hours."]
    for bound in ("quiet_start", "quiet_end"):
        if getattr(channel, bound) is not None and not isinstance(getattr(channel, bound), time):
            errors[bound] = ["A time of day, e.g. 22:00."]
    if errors:
        summary = " ".join(messages[0] for messages in errors.values())
        raise ValidationFailed(f"The channel is not valid: {summary}", field_errors=errors)
    channel.name, channel.target = name, target


def _save(channel: Channel) -> None:
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:
        raise ValidationFailed(
            f"A channel named '{channel.name}' exists already; pick another name.",
            field_errors={"name": ["A channel with this name exists."]},
        ) from None


def channel_create(
    *,
    name: str,
    kind: str,
    target: str,
    secret: str = "",
    events: list[str] | None = None,
    min_score: int = 0,
    enabled: bool = True,
    timezone_name: str = "UTC",
    quiet_start: time | None = None,
    quiet_end: time | None = None,
    source: str = TaskSource.SYSTEM,
    user=None,
    remote_addr: str | None = None,
) -> Channel:
    channel = Channel(
        name=name,
        kind=kind,
        target=target,
        secret=secret or "",
        min_score=min_score,
        enabled=enabled,
        timezone=timezone_name or "UTC",
        quiet_start=quiet_start,
        quiet_end=quiet_end,
    )
    if events is not None:
        channel.events = list(events)
    _validate(channel)
    with transaction.atomic():
        _save(channel)
        audit_record(
            action="channel.create",
            object_type="channel",
            object_id=channel.pk,
            source=source,
            user=user,
            after=_view(channel),
            remote_addr=remote_addr,
        )
    return channel


def _get(channel_id: int, *, lock: bool = False) -> Channel:
    channels = Channel.objects.select_for_update() if lock else Channel.objects
    channel = channels.filter(pk=channel_id).first()
    if channel is None:
        raise NotFound(f"No notification channel with id {channel_id}.")
    return channel


def channel_update(
    *,
    channel_id: int,
    changes: dict[str, Any],
    source: str = TaskSource.SYSTEM,
    user=None,
    remote_addr: str | None = None,
) -> Channel:
    """Apply `changes` (model field names; timezone as 'timezone'); a blank or missing secret keeps the old one."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        channel = _get(channel_id, lock=True)
        before = _view(channel)
        secret_changed = bool(changes.get("secret"))
        for name, value in changes.items():
            if name == "secret" and not value:
                continue
            setattr(channel, name, value)
        _validate(channel)
        _save(channel)
        after = _view(channel)
        changed = [name for name in after if before[name] != after[name]]
        if secret_changed and "secret" not in changed:
            changed.append("secret")
        if changed:
            audit_record(
                action="channel.update",
                object_type="channel",
                object_id=channel.pk,
                source=source,
                user=user,
                before={name: "<old>" if name == "secret" else before[name] for name in changed},
                after={name: "<changed>" if name == "secret" else after[name] for name in changed},
                remote_addr=remote_addr,
            )
    return channel


def channel_delete(
    *, channel_id: int, source: str = TaskSource.SYSTEM, user=None, remote_addr: str | None = None
) -> None:
    with transaction.atomic():
        channel = _get(channel_id, lock=True)
        before = _view(channel)
        channel.delete()
        audit_record(
            action="channel.delete",
            object_type="channel",
            object_id=channel_id,
            source=source,
            user=user,
            before=before,
            remote_addr=remote_addr,
        )


def channel_send_test(
    *, channel_id: int, source: str = TaskSource.SYSTEM, user=None, remote_addr: str | None = None
) -> Delivery:
    """A test message to this channel only (whatever its events, ignoring quiet hours), sent by the queue."""
    with transaction.atomic():
        channel = _get(channel_id)
        who = user.get_username() if user is not None and getattr(user, "is_authenticated", False) else source
        delivery = Delivery.objects.create(
            channel=channel,
            event=Event.TEST,
            key=f"test:{uuid.uuid4()}",
            subject=f"Test message for '{channel.name}'",
            payload={
                "facts": [("Channel", channel.name), ("Kind", channel.get_kind_display()), ("Requested by", who)],
                "lines": ["If you can read this, the channel works. <b>Tags</b> & symbols are shown as typed."],
            },
            urgent=True,
            status=DeliveryStatus.PENDING,
            created_at=timezone.now(),
        )
        enqueue_delivery(delivery, idempotency_key=f"notification:{delivery.pk}")
        audit_record(
            action="channel.test",
            object_type="channel",
            object_id=channel.pk,
            source=source,
            user=user,
            after={"delivery_id": delivery.pk},
            remote_addr=remote_addr,
        )
    return delivery
