"""Status transitions of the domain rows (applications, proposals): lock the row, check its status, move it, audit it.

A service calls these inside its own `transaction.atomic()`: `lock` holds the row until the transaction
ends, so two workers or two reviewers cannot both move it. Messages name the model ("Proposal 7 is approved;
it can be rejected only when draft or in_review."). The queue's `Task.status` has its own module in queue_app.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from django.db import models
from django.utils import timezone

from queue_app.audit import audit_record
from queue_app.errors import InvalidTransition, NotFound

Row = TypeVar("Row", bound=models.Model)


def lock(model: type[Row], pk: int, *, related: Iterable[str] = ()) -> Row:
    """The row locked FOR UPDATE (its own table only, joins are read as they are); NotFound when there is none."""
    row = model.objects.select_for_update(of=("self",)).select_related(*related).filter(pk=pk).first()
    if row is None:
        raise NotFound(f"No {model._meta.model_name} with id {pk}.")
    return row


def require(row: models.Model, allowed: tuple, action: str, *, hint: str = "") -> None:
    """Refuse (InvalidTransition) unless the row's status is one of `allowed`; `action` is the past participle."""
    if row.status not in allowed:
        raise InvalidTransition(
            f"{row._meta.model_name.capitalize()} {row.pk} is {row.status}; it can be {action} only when "
            f"{' or '.join(str(s) for s in allowed)}.{hint}"
        )


def set_status(row: models.Model, status: str, now: datetime | None = None) -> None:
    """Move the row (unsaved) to `status`; `status_changed_at` changes only when the status does."""
    if row.status != status:
        row.status = status
        row.status_changed_at = now or timezone.now()


def audit(
    row: models.Model,
    action: str,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    source: str,
    user=None,
    remote_addr: str | None = None,
) -> None:
    """The audit row '<model>.<action>' for this row, written in the caller's transaction."""
    object_type = row._meta.model_name
    audit_record(
        action=f"{object_type}.{action}",
        object_type=object_type,
        object_id=row.pk,
        source=source,
        user=user,
        before=before,
        after=after,
        remote_addr=remote_addr,
    )
