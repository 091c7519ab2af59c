"""Status transitions of the domain rows (applications, proposals): lock the row, check its status, move it, audit it.

`transition(...)` does the five steps in one call (a `with` block: the service changes its other fields
inside it). The parts (`lock`, `require`, `set_status`, `audit`) stay for the services whose flow does not
fit that shape (an idempotent no-op, many rows at once); they call them inside their own
`transaction.atomic()`: `lock` holds the row until the transaction ends, so two workers or two reviewers
cannot both move it. Messages name the model ("Proposal 7 is approved;
it can be rejected only when draft or in_review."). The queue's `Task.status` has its own module in queue_app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db import models, transaction
from django.utils import timezone

from core.actor import Actor
from core.audit import audit_record
from core.errors import InvalidTransition, NotFound

Row = TypeVar("Row", bound=models.Model)


def lock(model: type[Row], pk: int, *, related: Iterable[str] = ()) -> Row:
    """The row locked FOR UPDATE (its own table only, joins are read as they are); NotFound when there is none."""
    row = model.objects.select_for_update(of=("self",)).select_related(*related).filter(pk=pk).first()
    if row is None:
        raise NotFound(f"No {model._meta.model_name} with id {pk}.")
    return row


def require(row: models.Model, allowed: tuple, action: str, *, hint: str | Callable[[Any], str] = "") -> None:
    """Refuse (InvalidTransition) unless the row's status is one of `allowed`; `action` is the past participle."""
    if row.status not in allowed:
        hint = hint(row) if callable(hint) else hint
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
    actor: Actor,
) -> None:
    """The audit row '<model>.<action>' for this row, written in the caller's transaction."""
    object_type = row._meta.model_name
    audit_record(
        action=f"{object_type}.{action}",
        object_type=object_type,
        object_id=row.pk,
        actor=actor,
        before=before,
        after=after,
    )


@dataclass
class Step(Generic[Row]):
    """The row being moved, its audit view before, and what to add to the audit row's `after`."""

    row: Row
    before: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def transition(
    model: type[Row],
    pk: int,
    *,
    allowed: tuple,
    to: str,
    verb: str,
    action: str,
    actor: Actor,
    view: Callable[[Row], dict[str, Any]],
    related: Iterable[str] = (),
    hint: str | Callable[[Row], str] = "",
    now: datetime | None = None,
    update_fields: Iterable[str] | None = None,
) -> Iterator[Step[Row]]:
    """Lock → check allowed states → (the `with` block changes other fields) → set → save → audit, in one transaction.

    `verb` is the past participle for the refusal ("approved"), `action` the audit action ("approve"), `view` the
    row's audit view; `update_fields` (without status, status_changed_at, updated_at: added) saves only those.
    An exception in the block refuses the whole transition: nothing is saved or audited.

        with transitions.transition(Proposal, pk, allowed=REVIEWABLE, to=ProposalStatus.REJECTED, verb="rejected",
                                    action="reject", actor=actor, view=_review_view) as step:
            step.row.reviewer_feedback = feedback
        return step.row
    """
    with transaction.atomic():
        row = lock(model, pk, related=related)
        require(row, allowed, verb, hint=hint)
        step = Step(row=row, before=view(row))
        yield step
        set_status(row, to, now)
        if update_fields is None:
            row.save()
        else:
            row.save(update_fields=[*update_fields, "status", "status_changed_at", "updated_at"])
        audit(row, action, before=step.before, after={**view(row), **step.extra}, actor=actor)
