"""The audit log: one call per state change, from the service that makes it."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from core.actor import SYSTEM, Actor
from core.models import AuditEntry

logger = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    return None if value is None else json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))


def audit_entry(
    *,
    action: str,
    object_type: str,
    object_id: Any,
    actor: Actor = SYSTEM,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """An unsaved audit row, for a service that writes it together with its own row."""
    user = actor.authenticated_user
    return AuditEntry(
        actor=user,
        actor_name=user.get_username() if user is not None else "system",
        source=actor.source,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=_jsonable(before),
        after=_jsonable(after),
        remote_addr=actor.remote_addr,
    )


def audit_record(**fields: Any) -> AuditEntry:
    """Write one audit row (audit_entry's arguments). Call it inside the service's transaction so both
    land or neither does."""
    entry = audit_entry(**fields)
    entry.save(force_insert=True)
    return entry
