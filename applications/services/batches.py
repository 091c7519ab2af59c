"""Batches: scheduling approved applications and requesting submissions or dry runs in bulk."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from applications import conf, selectors
from applications.models import Application, ApplicationStatus
from applications.selectors import usage_read
from applications.services.common import GateRefused, _audit, _view
from applications.services.gates import _next_gap, _take_submission_lock, connects_needed, gates_check
from applications.services.submission import _dry_run_gates
from core import transitions
from core.actor import SYSTEM, Actor
from core.errors import NotFound


def applications_batch_schedule(
    *,
    application_ids: list[int] | None = None,
    limit: int | None = None,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> dict:
    """Schedule approved applications, oldest approval first, spaced by the gap, within today's cap and budget.

    Those beyond today's cap (or past midnight, or over the Connects budget) stay approved for a later batch.
    """
    from queue_app.services import task_enqueue

    if not conf.enabled():
        raise GateRefused(
            "Submitting is switched off (runtime switch applications.enabled, default APPLICATIONS_ENABLED).",
            gate="kill_switch",
        )
    scheduled, skipped = [], []
    with transaction.atomic():
        _take_submission_lock()
        now = now or timezone.now()
        usage = usage_read(now=now)
        pending = Application.objects.filter(status=ApplicationStatus.SCHEDULED)
        day_end = selectors.day_start(now) + timedelta(days=1)
        scheduled_today = pending.filter(scheduled_for__lt=day_end).count()
        pending_connects = sum(connects_needed(a) for a in pending)
        last_pending = pending.aggregate(latest=Max("scheduled_for"))["latest"]
        remaining = conf.daily_cap() - usage.today - scheduled_today
        budget_left = settings.APPLICATIONS_MONTHLY_CONNECTS_BUDGET - usage.month_connects - pending_connects
        at = max(now, usage.gap_until or now)
        if last_pending is not None:
            at = max(at, _next_gap(last_pending))
        candidates = selectors.applications_ready()
        if application_ids is not None:
            candidates = candidates.filter(id__in=application_ids)
        for application in candidates.select_for_update(of=("self",)).select_related("job"):
            if limit is not None and len(scheduled) >= limit:
                break
            try:
                gates_check(application, usage=usage, now=now, caps=False)
            except GateRefused as refused:
                skipped.append({"application_id": application.id, "gate": refused.gate, "reason": refused.message})
                continue
            needed = connects_needed(application)
            if remaining <= 0 or at >= day_end:
                skipped.append({"application_id": application.id, "gate": "daily_cap", "reason": "Today is full."})
                continue
            if needed > budget_left:
                skipped.append(
                    {"application_id": application.id, "gate": "monthly_connects", "reason": "Over the budget."}
                )
                continue
            before = _view(application)
            application.scheduled_for = at
            transitions.set_status(application, ApplicationStatus.SCHEDULED, now)
            application.save(update_fields=["scheduled_for", "status", "status_changed_at", "updated_at"])
            task_enqueue(
                task_type="submit_application",
                payload={"application_id": application.id},
                run_at=at if at > now else None,
                actor=actor,
            )
            _audit(application, "schedule", before=before, actor=actor, batch=True)
            scheduled.append({"application_id": application.id, "run_at": at.isoformat()})
            remaining -= 1
            budget_left -= needed
            at = _next_gap(at)
    return {"scheduled": scheduled, "skipped": skipped}


def application_dry_run_request(*, application_id: int, actor: Actor = SYSTEM):
    """Queue a dry run: the form is filled and screenshotted, submit is never clicked, no slot is taken."""
    from queue_app.services import task_enqueue

    application = Application.objects.filter(id=application_id).first()
    if application is None:
        raise NotFound(f"No application with id {application_id}.")
    _dry_run_gates(application)
    return task_enqueue(
        task_type="submit_application",
        payload={"application_id": application.id, "dry_run": True},
        actor=actor,
    )


def applications_batch_request(
    *, application_ids: list[int] | None = None, limit: int | None = None, actor: Actor = SYSTEM
):
    """Queue batch_submit_applications (it schedules within today's cap and the gap when it runs)."""
    from queue_app.services import task_enqueue

    if not conf.enabled():
        raise GateRefused(
            "Submitting is switched off (runtime switch applications.enabled, default APPLICATIONS_ENABLED).",
            gate="kill_switch",
        )
    return task_enqueue(
        task_type="batch_submit_applications",
        payload={"application_ids": application_ids, "limit": limit},
        actor=actor,
    )
