"""The safety gates, checked while a submission slot is taken under one advisory lock."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from applications import conf
from applications.models import Application, ApplicationStatus
from applications.selectors import Usage, usage_read
from applications.services.common import STARTABLE, SUBMISSION_LOCK_KEY, GateRefused, _lock
from core import transitions

logger = logging.getLogger(__name__)


def _take_submission_lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SUBMISSION_LOCK_KEY])


def connects_needed(application: Application) -> int:
    """Connects to reserve: the job's known price (or the per-job maximum when unknown) plus any boost."""
    price = application.connects_required
    if price is None:
        price = settings.APPLICATIONS_MAX_CONNECTS_PER_JOB
    return int(price) + int(application.boost_connects or 0)


def gates_check(application: Application, *, usage: Usage, now: datetime, caps: bool = True) -> None:
    """Raise GateRefused naming the first safety control that refuses this submission."""
    if not conf.enabled():
        raise GateRefused(
            "Submitting is switched off (runtime switch applications.enabled, default APPLICATIONS_ENABLED); "
            "nothing is sent until it is turned on in the admin (Runtime switches).",
            gate="kill_switch",
        )
    if application.status not in STARTABLE:
        raise GateRefused(
            f"Application {application.id} is {application.status}; only approved or scheduled ones are sent.",
            gate="status",
        )
    if settings.APPLICATIONS_REQUIRE_APPROVAL and application.approved_at is None:
        raise GateRefused(f"Application {application.id} has not been approved by a person.", gate="approval")
    if application.proposal_version_id is None or not application.cover_letter.strip():
        raise GateRefused(f"Application {application.id} has no approved proposal text.", gate="approval")
    if application.boost_connects and not settings.APPLICATIONS_BOOST_ENABLED:
        raise GateRefused("Boosting is off (APPLICATIONS_BOOST_ENABLED=false).", gate="boost")
    per_job = settings.APPLICATIONS_MAX_CONNECTS_PER_JOB
    needed = connects_needed(application)
    if needed > per_job:
        raise GateRefused(
            f"This job needs {needed} Connects; the per-job maximum is {per_job} (APPLICATIONS_MAX_CONNECTS_PER_JOB).",
            gate="per_job_connects",
        )
    if not caps:
        return
    cap = conf.daily_cap()
    if usage.today >= cap:
        raise GateRefused(
            f"The daily cap of {cap} submissions is reached (runtime switch applications.daily_cap); "
            "it resets at midnight.",
            gate="daily_cap",
        )
    budget = settings.APPLICATIONS_MONTHLY_CONNECTS_BUDGET
    if usage.month_connects + needed > budget:
        raise GateRefused(
            f"This submission needs {needed} Connects; {usage.month_connects} of the monthly budget of {budget} "
            "are used (APPLICATIONS_MONTHLY_CONNECTS_BUDGET).",
            gate="monthly_connects",
        )
    if usage.gap_until is not None and usage.gap_until > now:
        wait = (usage.gap_until - now).total_seconds()
        raise GateRefused(f"The minimum gap between submissions has {wait:.0f} s left.", gate="gap", wait_seconds=wait)


def _next_gap(now: datetime) -> datetime:
    gap = settings.APPLICATIONS_MIN_GAP_SECONDS
    jitter = settings.APPLICATIONS_GAP_JITTER_SECONDS
    return now + timedelta(seconds=gap + random.uniform(0, max(0.0, jitter)))


def application_claim(*, application_id: int, now: datetime | None = None) -> Application:
    """Check every gate and take a submission slot (→ submitting), atomically under the submission lock.

    A refusal other than the gap puts a scheduled application back to approved with the reason; the gap
    leaves it as it is (the caller retries later). Raises GateRefused either way.
    """
    refusal: GateRefused | None = None
    with transaction.atomic():
        _take_submission_lock()
        now = now or timezone.now()  # read after the lock: a slot taken while we waited is in our past
        application = _lock(application_id)
        try:
            gates_check(application, usage=usage_read(now=now, exclude_id=application.id), now=now)
        except GateRefused as refused:
            refusal = refused
            if refused.gate != "gap" and application.status == ApplicationStatus.SCHEDULED:
                transitions.set_status(application, ApplicationStatus.APPROVED, now)
            if refused.gate != "status":
                application.error = refused.message
            application.save(update_fields=["status", "status_changed_at", "error", "updated_at"])
        else:
            application.previous_status = application.status
            transitions.set_status(application, ApplicationStatus.SUBMITTING, now)
            application.claimed_at = now
            application.counts_toward_caps = True
            application.connects_reserved = connects_needed(application)
            application.gap_until = _next_gap(now)
            application.attempts += 1
            application.error = ""
            application.save()
    if refusal is not None:
        logger.info("Application %s refused by the %s gate: %s", application_id, refusal.gate, refusal.message)
        raise refusal
    return application


def _note_refusal(application_id: int, refused: GateRefused) -> None:
    """A gate refused before a slot was taken: a scheduled application goes back to approved, with the reason."""
    now = timezone.now()
    Application.objects.filter(id=application_id, status=ApplicationStatus.SCHEDULED).update(
        status=ApplicationStatus.APPROVED, status_changed_at=now
    )
    Application.objects.filter(id=application_id, status__in=STARTABLE).update(error=refused.message)


def _release(application_id: int, *, status: str, error: str, now: datetime | None = None) -> int:
    """Nothing was sent: give the slot back (caps and gap) and move on from submitting."""
    return Application.objects.filter(id=application_id, status=ApplicationStatus.SUBMITTING).update(
        status=status,
        status_changed_at=now or timezone.now(),
        counts_toward_caps=False,
        connects_reserved=0,
        gap_until=None,
        error=error,
    )
