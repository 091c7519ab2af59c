"""The audit log: one call per state change, from the service that makes it."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from queue_app.models import AuditEntry, TaskSource

logger = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    return None if value is None else json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))


def audit_entry(
    *,
    action: str,
    object_type: str,
    object_id: Any,
    source: str = TaskSource.SYSTEM,
    user=None,
    before: dict | None = None,
    after: dict | None = None,
    remote_addr: str | None = None,
) -> AuditEntry:
    """An unsaved audit row, for a service that writes it together with its own row."""
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    return AuditEntry(
        actor=user if authenticated else None,
        actor_name=user.get_username() if authenticated else "system",
        source=source,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=_jsonable(before),
        after=_jsonable(after),
        remote_addr=remote_addr,
    )


def audit_record(**fields: Any) -> AuditEntry:
    """Write one audit row (audit_entry's arguments). Call it inside the service's transaction so both
    land or neither does."""
    entry = audit_entry(**fields)
    entry.save(force_insert=True)
    return entry
