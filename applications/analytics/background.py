"""What the analytics_refresh task does, out of any request: recount the rollup's changed (or day-old) days and
compute the calibration report, stored in AnalyticsCalibration with the fingerprint of the data it came from.

The calibration (a logistic regression per profile with scipy, seconds at 100,000 applications) is never computed
by a page or an API request: they show the stored report with its age, and when it is missing or stale (the
applications of the window or a profile's weights changed since) they queue the task, once per fingerprint. A
person can ask for a recount (the page's button, the CLI): that is audited, as it queues work in their name.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from applications.analytics import rollup, selectors
from applications.models import AnalyticsCalibration, AnalyticsDay
from core.actor import SYSTEM, Actor
from core.audit import audit_record
from jobs.models import SearchProfile
from jobs.scoring import profile_weights

TASK_TYPE = "analytics_refresh"
ROLLUP_MAX_AGE = timedelta(hours=24)  # a day counted longer ago is recounted by the task (a job edited since)
ROLLUP_DAYS = 400  # the task keeps this many days current (the page's longest choice is 365)


def calibration_fingerprint(days: int) -> str:
    """What the stored report depends on: the window's applications (count and latest change, see
    selectors._fingerprint), every profile's weights and threshold, and the date (proposals become "settled" by
    silence as time passes: the report is recomputed at least once a day)."""
    states = [
        (profile.id, profile.name, profile_weights(profile), profile.handoff_min_score)
        for profile in SearchProfile.objects.order_by("id")
    ]
    parts = [
        days,
        selectors._fingerprint(selectors.window_start(days)),
        states,
        settings.ANALYTICS_MIN_OUTCOMES,
        timezone.now().date(),
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:40]


def calibration_compute(days: int) -> AnalyticsCalibration | None:
    """Compute the report now (the task's work) and store it, unless a run that read the data later stored its
    report first (two workers: the older run's figures never replace the newer's). computed_at is when this run
    read the data. Returns the stored row, or None when a newer one was kept."""
    read_at = timezone.now()
    fingerprint = calibration_fingerprint(days)  # read first: a change during the fit makes the result stale
    started = time.perf_counter()
    report = selectors.calibration_report(days=days)
    report.pop("computed_at", None)
    stored = json.loads(json.dumps(report, cls=DjangoJSONEncoder))
    values = {
        "report": stored,
        "fingerprint": fingerprint,
        "computed_at": read_at,
        "duration_ms": round((time.perf_counter() - started) * 1000),
    }
    with transaction.atomic():
        row = AnalyticsCalibration.objects.select_for_update().filter(days=days).first()
        if row is None:
            row, created = AnalyticsCalibration.objects.get_or_create(days=days, defaults=values)
            if created:
                return row
            row = AnalyticsCalibration.objects.select_for_update().get(days=days)
        if row.computed_at > read_at:
            return None
        for field, value in values.items():
            setattr(row, field, value)
        row.save()
    return row


def calibration_enqueue(days: int, *, fingerprint: str | None = None, actor: Actor = SYSTEM, force: bool = False):
    """Queue the task for this window: once per data fingerprint (force: a person's request, always)."""
    from queue_app.services import task_enqueue

    key = f"{TASK_TYPE}:{days}:{fingerprint or calibration_fingerprint(days)}"
    payload = {"days": days}
    if force:  # fit again even if the fingerprint says current (a job re-scored: Job has no updated_at)
        key += f":{timezone.now().timestamp()}"
        payload["force"] = True
    return task_enqueue(task_type=TASK_TYPE, payload=payload, idempotency_key=key, actor=actor)


def calibration_request(days: int, *, actor: Actor):
    """A person asks for a recount now (the page's button): queued and audited."""
    task = calibration_enqueue(days, actor=actor, force=True)
    audit_record(
        action="analytics.calibration_recompute",
        object_type="analyticscalibration",
        object_id=days,
        actor=actor,
        before={},
        after={"days": days, "task_id": str(task.id)},
    )
    return task


def calibration_stored(days: int, *, profile_id: int | None = None, enqueue: bool = True) -> dict:
    """The stored report of the window for the page and the API, never computed here.

    state: "ready" (computed from the data as it is), "stale" (the data changed since: the last report is shown and
    a recount is queued) or "missing" (none yet: queued). computed_at and age_seconds say how old it is."""
    row = AnalyticsCalibration.objects.filter(days=days).first()
    fingerprint = calibration_fingerprint(days)
    state = "missing" if row is None else "ready" if row.fingerprint == fingerprint else "stale"
    task_id = None
    if state != "ready" and enqueue:
        task_id = str(calibration_enqueue(days, fingerprint=fingerprint).id)
    report = dict(row.report) if row else {"overall": None, "profiles": [], "default_weights": {}}
    if profile_id is not None:
        report["profiles"] = [item for item in report["profiles"] if item["profile"]["id"] == profile_id]
    now = timezone.now()
    return {
        **report,
        "days": days,
        "state": state,
        "computed_at": row.computed_at if row else None,
        "age_seconds": round((now - row.computed_at).total_seconds()) if row else None,
        "duration_ms": row.duration_ms if row else None,
        "task_id": task_id,
    }


def refresh(*, days: int | None = None, full: bool = False, force: bool = False) -> dict:
    """The task's body: the rollup's changed days and those counted more than a day ago (or every day, full),
    then the calibration report of `days` (default ANALYTICS_CALIBRATION_DAYS) if it is not current (or force:
    a person's Recompute)."""
    now = timezone.now()
    first = (now - timedelta(days=ROLLUP_DAYS)).date()
    old = set(
        AnalyticsDay.objects.filter(day__gte=first, computed_at__lt=now - ROLLUP_MAX_AGE).values_list("day", flat=True)
    )
    recounted = rollup.refresh(first, rebuild=full, recount=old)
    days = days or settings.ANALYTICS_CALIBRATION_DAYS
    calibration = AnalyticsCalibration.objects.filter(days=days).first()
    computed = False
    if force or full or calibration is None or calibration.fingerprint != calibration_fingerprint(days):
        stored = calibration_compute(days)
        computed = stored is not None
        calibration = stored or calibration
    return {
        "rollup_days_recounted": len(recounted),
        "calibration_days": days,
        "calibration_computed": computed,
        "calibration_ms": calibration.duration_ms if computed else 0,
    }
