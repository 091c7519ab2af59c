"""Every write of the applications app: approval, scheduling, the safety gates, submitting, verifying.

The gates (kill switch, approval, daily cap, gap, monthly Connects budget, per-job maximum, boosting) are
checked here, at the moment a submission slot is taken, under one PostgreSQL advisory lock: two workers
racing cannot both pass a cap. The browser runs outside any transaction; its outcome is recorded after.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from applications import browser, conf, selectors
from applications.content import split_letter_and_answers, unfinished_parts
from applications.models import Application, ApplicationScreenshot, ApplicationStatus
from queue_app.audit import audit_record
from queue_app.errors import ApplicationError, InvalidTransition, NotFound, ValidationFailed
from queue_app.models import TaskSource

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key serialising "check the caps, then take a submission slot" across all workers.
SUBMISSION_LOCK_KEY = 0x55_50_57_41_50_50  # "UPWAPP"
# Reasons from the browser that are about the session (the BrowserSession needs a person too).
SESSION_REASONS = {"captcha", "login_wall", "unexpected_page"}

CANCELLABLE = (
    ApplicationStatus.AWAITING_APPROVAL,
    ApplicationStatus.APPROVED,
    ApplicationStatus.SCHEDULED,
    ApplicationStatus.FAILED,
    ApplicationStatus.NEEDS_ATTENTION,
)
REOPENABLE = (ApplicationStatus.FAILED, ApplicationStatus.NEEDS_ATTENTION)
STARTABLE = (ApplicationStatus.APPROVED, ApplicationStatus.SCHEDULED)


class GateRefused(ApplicationError):
    """A safety gate said no. `wait_seconds` is set when waiting (the gap) is all it takes."""

    code = "gate_refused"
    status_code = 409

    def __init__(self, message: str, *, gate: str, wait_seconds: float | None = None):
        super().__init__(message)
        self.gate = gate
        self.wait_seconds = wait_seconds


# --- helpers -------------------------------------------------------------------
def _user_or_none(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _lock(application_id: int) -> Application:
    application = (
        Application.objects.select_for_update(of=("self",))
        .select_related("job", "proposal")
        .filter(id=application_id)
        .first()
    )
    if application is None:
        raise NotFound(f"No application with id {application_id}.")
    return application


def _require(application: Application, allowed: tuple, action: str) -> None:
    if application.status not in allowed:
        raise InvalidTransition(
            f"Application {application.id} is {application.status}; it can be {action} only when "
            f"{' or '.join(str(s) for s in allowed)}."
        )


def _set_status(application: Application, status: str, now: datetime | None = None) -> None:
    if application.status != status:
        application.status = status
        application.status_changed_at = now or timezone.now()


def _view(application: Application) -> dict[str, Any]:
    return {
        "status": application.status,
        "proposal_version": application.proposal_version_id,
        "bid_amount": application.bid_amount,
        "connects_required": application.connects_required,
        "boost_connects": application.boost_connects,
        "connects_spent": application.connects_spent,
        "scheduled_for": application.scheduled_for,
        "confirmation_reference": application.confirmation_reference,
        "error": application.error,
    }


def _audit(
    application: Application,
    action: str,
    *,
    before: dict | None,
    source: str,
    user=None,
    remote_addr: str | None = None,
    **extra,
) -> None:
    audit_record(
        action=f"application.{action}",
        object_type="application",
        object_id=application.id,
        source=source,
        user=user,
        before=before,
        after={**_view(application), **extra},
        remote_addr=remote_addr,
    )


def _default_bid(proposal) -> Decimal | None:
    job = proposal.job
    if job.job_type == "hourly":
        rate = proposal.profile.hourly_rate if proposal.profile_id else None
        return rate or job.hourly_max or job.hourly_min
    return job.budget


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _check_boost(boost_connects: int) -> None:
    if boost_connects and not settings.APPLICATIONS_BOOST_ENABLED:
        raise ValidationFailed(
            "Boosting is off: set APPLICATIONS_BOOST_ENABLED=true to bid extra Connects.",
            field_errors={"boost_connects": ["Boosting is disabled."]},
        )
    limit = settings.APPLICATIONS_MAX_BOOST_CONNECTS
    if boost_connects > limit:
        raise ValidationFailed(
            f"A boost of {boost_connects} Connects is above APPLICATIONS_MAX_BOOST_CONNECTS ({limit}).",
            field_errors={"boost_connects": [f"At most {limit}."]},
        )


# --- create, approve, schedule, cancel, reopen ------------------------------------
def application_create(
    *,
    proposal_id: int,
    bid_amount: Decimal | None = None,
    boost_connects: int = 0,
    user=None,
    source: str = TaskSource.SYSTEM,
    remote_addr: str | None = None,
) -> Application:
    """An application for an approved proposal's job, awaiting a person's approval.

    With APPLICATIONS_REQUIRE_APPROVAL off it is approved at once (audited as the system's approval).
    """
    from proposals.models import Proposal, ProposalStatus

    proposal = Proposal.objects.select_related("job", "profile").filter(id=proposal_id).first()
    if proposal is None:
        raise NotFound(f"No proposal with id {proposal_id}.")
    if proposal.status != ProposalStatus.APPROVED or proposal.approved_version_id is None:
        raise InvalidTransition(f"Proposal {proposal_id} is {proposal.status}; approve the proposal first.")
    _check_boost(boost_connects)
    bid = _money(bid_amount) if bid_amount is not None else _default_bid(proposal)
    if bid is not None and bid <= 0:
        raise ValidationFailed("The bid must be more than zero.", field_errors={"bid_amount": ["Must be > 0."]})
    try:
        with transaction.atomic():
            application = Application.objects.create(
                job=proposal.job,
                proposal=proposal,
                bid_amount=bid,
                boost_connects=boost_connects,
                connects_required=proposal.job.connects_required,
                status_changed_at=timezone.now(),
            )
            _audit(application, "create", before=None, source=source, user=user, remote_addr=remote_addr)
    except IntegrityError:
        existing = Application.objects.filter(job=proposal.job).first()
        raise InvalidTransition(
            f"Job {proposal.job_id} already has application {existing.id if existing else '?'}; one per job.",
            field_errors={"proposal_id": ["This job already has an application."]},
        ) from None
    if not settings.APPLICATIONS_REQUIRE_APPROVAL:
        application = application_approve(application_id=application.id, source=TaskSource.SYSTEM)
    return application


def application_approve(
    *,
    application_id: int,
    user=None,
    bid_amount: Decimal | None = None,
    screening_answers: list[dict] | None = None,
    source: str = TaskSource.SYSTEM,
    remote_addr: str | None = None,
) -> Application:
    """A person approves exactly what will be sent: the approved proposal version, the bid, the answers.

    The letter and answers are fixed here from the proposal's approved version (answers may be given to
    replace the ones written in it); nothing unfinished (empty answer, a placeholder) can be approved.
    """
    from proposals.models import ProposalStatus

    with transaction.atomic():
        application = _lock(application_id)
        _require(application, (ApplicationStatus.AWAITING_APPROVAL,), "approved")
        proposal = application.proposal
        if proposal.status != ProposalStatus.APPROVED or proposal.approved_version_id is None:
            raise InvalidTransition(
                f"Proposal {proposal.id} is {proposal.status}; approve the proposal before the application."
            )
        version = proposal.approved_version
        questions = list(proposal.screening_questions or [])
        letter, answers = split_letter_and_answers(version.text, questions)
        if screening_answers is not None:
            given = {item.get("question"): item.get("answer", "") for item in screening_answers}
            unknown = [q for q in given if q not in questions]
            if unknown:
                raise ValidationFailed(
                    "Answers name questions the proposal does not have: " + "; ".join(map(str, unknown)),
                    field_errors={"screening_answers": [f"Unknown question: {q}" for q in unknown]},
                )
            answers = [
                {"question": q, "answer": str(given.get(q, a["answer"])).strip()}
                for q, a in zip(questions, answers, strict=True)
            ]
        problems = unfinished_parts(letter, answers)
        if problems:
            raise ValidationFailed(
                "This cannot be sent yet: " + " ".join(problems),
                field_errors={"screening_answers": problems},
            )
        if bid_amount is not None:
            application.bid_amount = _money(bid_amount)
        if application.bid_amount is None or application.bid_amount <= 0:
            raise ValidationFailed(
                "Give a bid (rate or amount) above zero.", field_errors={"bid_amount": ["Required."]}
            )
        _check_boost(application.boost_connects)
        before = _view(application)
        now = timezone.now()
        application.proposal_version = version
        application.cover_letter = letter
        application.screening_answers = answers
        application.attachment_ids = list(
            proposal.chosen_attachments.order_by("position").values_list("attachment_id", flat=True)
        )
        application.connects_required = application.job.connects_required or application.connects_required
        application.approved_by = _user_or_none(user)
        application.approved_at = now
        application.error = ""
        _set_status(application, ApplicationStatus.APPROVED, now)
        application.save()
        _audit(application, "approve", before=before, source=source, user=user, remote_addr=remote_addr)
    return application


def application_schedule(
    *,
    application_id: int,
    run_at: datetime | None = None,
    user=None,
    source: str = TaskSource.SYSTEM,
    remote_addr: str | None = None,
    dry_run: bool | None = None,
) -> Application:
    """Approved → scheduled: a submit_application task runs at `run_at` (now when omitted); gates apply then."""
    from queue_app.services import task_enqueue

    now = timezone.now()
    run_at = run_at or now
    if timezone.is_naive(run_at):
        raise ValidationFailed("run_at needs a time zone.", field_errors={"run_at": ["Time zone missing."]})
    with transaction.atomic():
        application = _lock(application_id)
        _require(application, (ApplicationStatus.APPROVED,), "scheduled")
        before = _view(application)
        application.scheduled_for = run_at
        _set_status(application, ApplicationStatus.SCHEDULED, now)
        application.save(update_fields=["scheduled_for", "status", "status_changed_at", "updated_at"])
        payload: dict[str, Any] = {"application_id": application.id}
        if dry_run is not None:
            payload["dry_run"] = dry_run
        task_enqueue(
            task_type="submit_application",
            payload=payload,
            run_at=run_at if run_at > now else None,
            source=source,
            user=user,
        )
        _audit(application, "schedule", before=before, source=source, user=user, remote_addr=remote_addr)
    return application


def application_cancel(
    *, application_id: int, user=None, source: str = TaskSource.SYSTEM, remote_addr: str | None = None
) -> Application:
    """Stop an application that has not been submitted; a scheduled task finds it cancelled and does nothing."""
    with transaction.atomic():
        application = _lock(application_id)
        if application.status == ApplicationStatus.CANCELLED:
            return application
        _require(application, CANCELLABLE, "cancelled")
        before = _view(application)
        _set_status(application, ApplicationStatus.CANCELLED)
        application.save(update_fields=["status", "status_changed_at", "updated_at"])
        _audit(application, "cancel", before=before, source=source, user=user, remote_addr=remote_addr)
    return application


def application_defer(*, application_id: int, run_at: datetime, source: str = TaskSource.SYSTEM) -> None:
    """The gap said wait: the application shows as scheduled for when its next attempt runs."""
    with transaction.atomic():
        application = _lock(application_id)
        if application.status not in STARTABLE:
            return
        before = _view(application)
        application.scheduled_for = run_at
        _set_status(application, ApplicationStatus.SCHEDULED)
        application.save(update_fields=["scheduled_for", "status", "status_changed_at", "updated_at"])
        _audit(application, "defer", before=before, source=source)


def application_reopen(
    *, application_id: int, user=None, source: str = TaskSource.SYSTEM, remote_addr: str | None = None
) -> Application:
    """After a person looked at a failure or a stop: back to awaiting approval (it must be approved again)."""
    with transaction.atomic():
        application = _lock(application_id)
        _require(application, REOPENABLE, "reopened")
        before = _view(application)
        _set_status(application, ApplicationStatus.AWAITING_APPROVAL)
        application.scheduled_for = None
        application.save(update_fields=["status", "status_changed_at", "scheduled_for", "updated_at"])
        _audit(application, "reopen", before=before, source=source, user=user, remote_addr=remote_addr)
    return application


# Statuses in which something was (or may have been) sent: the proposal behind it can no longer change.
SENT = (ApplicationStatus.SUBMITTING, ApplicationStatus.SUBMITTED, ApplicationStatus.VERIFIED)
# Waiting to be sent with the approved version: reopening the proposal sends them back to approval.
HOLDABLE = (
    ApplicationStatus.APPROVED,
    ApplicationStatus.SCHEDULED,
    ApplicationStatus.FAILED,
    ApplicationStatus.NEEDS_ATTENTION,
)


def applications_hold_for_proposal(
    *, proposal_id: int, reason: str, user=None, source: str = TaskSource.SYSTEM, remote_addr: str | None = None
) -> list[int]:
    """The proposal is being reopened: its unsent applications go back to awaiting approval (audited).

    InvalidTransition when one was sent or may have been (a slot was taken): that text is out. Call inside
    the caller's transaction; a scheduled submit task then finds the application not startable.
    """
    applications = list(
        Application.objects.select_for_update()
        .filter(proposal_id=proposal_id)
        .exclude(status=ApplicationStatus.CANCELLED)
    )
    sent = [a for a in applications if a.status in SENT or (a.counts_toward_caps and a.status not in HOLDABLE[:2])]
    if sent:
        raise InvalidTransition(
            f"Application {sent[0].id} for this proposal is {sent[0].status}: what was sent cannot be reopened."
        )
    held = []
    for application in applications:
        if application.status not in HOLDABLE:
            continue
        before = _view(application)
        _set_status(application, ApplicationStatus.AWAITING_APPROVAL)
        application.scheduled_for = None
        application.error = reason
        application.save(update_fields=["status", "status_changed_at", "scheduled_for", "error", "updated_at"])
        _audit(application, "hold", before=before, source=source, user=user, remote_addr=remote_addr)
        held.append(application.id)
    return held


# --- the gates -------------------------------------------------------------------
@dataclass
class Usage:
    """What the counted submissions used up, read under the submission lock."""

    today: int
    month_connects: int
    gap_until: datetime | None
    scheduled_today: int = 0
    scheduled_connects: int = 0
    last_scheduled_for: datetime | None = None


def _take_submission_lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SUBMISSION_LOCK_KEY])


def usage_read(*, now: datetime, exclude_id: int | None = None) -> Usage:
    counted = Application.objects.filter(counts_toward_caps=True)
    if exclude_id is not None:
        counted = counted.exclude(id=exclude_id)
    day, month = selectors.day_start(now), selectors.month_start(now)
    month_connects = counted.filter(claimed_at__gte=month).aggregate(total=Sum("connects_reserved"))["total"] or 0
    return Usage(
        today=counted.filter(claimed_at__gte=day).count(),
        month_connects=month_connects,
        gap_until=counted.aggregate(latest=Max("gap_until"))["latest"],
    )


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
                _set_status(application, ApplicationStatus.APPROVED, now)
            if refused.gate != "status":
                application.error = refused.message
            application.save(update_fields=["status", "status_changed_at", "error", "updated_at"])
        else:
            application.previous_status = application.status
            _set_status(application, ApplicationStatus.SUBMITTING, now)
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


# --- evidence ---------------------------------------------------------------------
def _save_shots(application_id: int, shots: list[browser.Shot]) -> list[ApplicationScreenshot]:
    saved = []
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    for index, shot in enumerate(shots):
        screenshot = ApplicationScreenshot(application_id=application_id, kind=shot.kind, page_url=shot.url[:1000])
        screenshot.image.save(
            f"application-{application_id}-{stamp}-{index}-{shot.kind}.png", ContentFile(shot.png), save=False
        )
        screenshot.save()
        saved.append(screenshot)
    return saved


def _form_input(application: Application) -> browser.FormInput:
    from proposals.models import Attachment

    attachments = {a.id: a for a in Attachment.objects.filter(id__in=application.attachment_ids)}
    missing = [i for i in application.attachment_ids if i not in attachments]
    if missing:
        raise GateRefused(f"Attachment(s) {missing} chosen at approval no longer exist.", gate="attachments")
    return browser.FormInput(
        upwork_id=application.job.upwork_id,
        job_type=application.job.job_type or "fixed",
        cover_letter=application.cover_letter,
        bid_amount=application.bid_amount,
        answers=list(application.screening_answers or []),
        attachment_paths=[attachments[i].file.path for i in application.attachment_ids],
        boost_connects=application.boost_connects,
    )


def _session():
    from jobs.selectors import browser_session_usable

    session = browser_session_usable()
    if session is None:
        raise GateRefused(
            "No active browser session: import one (manage.py jobs_import_session) or reactivate it.",
            gate="browser_session",
        )
    return session


def _mark_session(session_id: int, stop: browser.BrowserStop) -> None:
    if stop.reason in SESSION_REASONS:
        from jobs.services import browser_session_mark_attention

        browser_session_mark_attention(session_id=session_id, reason=stop.reason, message=stop.message, url=stop.url)


# --- submitting -------------------------------------------------------------------
@dataclass
class SubmitResult:
    outcome: str  # submitted | dry_run | already_done | skipped | deferred
    application_id: int
    reference: str = ""
    wait_seconds: float = 0.0
    message: str = ""

    def as_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if value not in ("", 0.0)}


class SubmissionStopped(ApplicationError):
    """The attempt stopped and a person must look (needs attention) or it failed for good."""

    code = "submission_stopped"
    status_code = 409


class SubmissionRetryable(ApplicationError):
    """Nothing was sent and trying again later can help (Chromium did not start, a page did not load)."""

    code = "submission_retryable"
    status_code = 503


def application_submit(
    *, application_id: int, dry_run: bool | None = None, task_id: str = "", source: str = TaskSource.SYSTEM
) -> SubmitResult:
    """Send one approved application through the browser session, if every gate agrees right now.

    Raises GateRefused (nothing happened), SubmissionStopped (needs attention or failed; never retried
    blindly) or SubmissionRetryable (nothing was sent; retry later).
    """
    application = Application.objects.select_related("job").filter(id=application_id).first()
    if application is None:
        raise NotFound(f"No application with id {application_id}.")
    if application.status in (ApplicationStatus.SUBMITTED, ApplicationStatus.VERIFIED):
        return SubmitResult("already_done", application_id, reference=application.confirmation_reference)
    if application.status == ApplicationStatus.CANCELLED:
        return SubmitResult("skipped", application_id, message="cancelled")
    if application.status == ApplicationStatus.SUBMITTING:
        # A previous attempt was interrupted (worker crash, redelivery): it may have been sent. Never resend.
        _attention(
            application_id,
            "A previous attempt was interrupted mid-way; check Upwork's proposals list before reopening.",
            source=source,
        )
        raise SubmissionStopped("An interrupted attempt needs a person to check Upwork before anything else.")
    dry_run = conf.dry_run() if dry_run is None else dry_run
    if dry_run:
        return _dry_run(application, source=source)
    try:
        session = _session()
    except GateRefused as refused:
        _note_refusal(application_id, refused)
        raise
    application = application_claim(application_id=application_id)
    try:
        form = _form_input(application)
    except GateRefused as refused:
        _release(application_id, status=ApplicationStatus.FAILED, error=refused.message)
        raise
    Application.objects.filter(id=application_id).update(browser_session=session)

    def connects_check(on_page: int | None) -> None:
        # Runs inside the browser's event loop: no database access here.
        if on_page is not None and on_page + application.boost_connects > application.connects_reserved:
            raise browser.Refused(
                f"The form asks {on_page} Connects (+{application.boost_connects} boost); "
                f"{application.connects_reserved} were approved and reserved. Reopen and approve it again."
            )

    try:
        outcome = browser.ApplyBrowser(storage_state=session.storage_state_dict()).submit(
            form, dry_run=False, connects_check=connects_check
        )
    except browser.BrowserUnavailable as error:
        _release(application_id, status=application.previous_status, error=error.message)
        raise SubmissionRetryable(error.message) from None
    except (browser.FormRejected, browser.Refused) as error:
        _save_shots(application_id, error.shots)
        message = f"{error.message}{way_out(error.reason)}"
        _release(application_id, status=ApplicationStatus.FAILED, error=message)
        _record_failure(application_id, message, source=source)
        raise SubmissionStopped(message) from None
    except browser.Stopped as stop:
        _save_shots(application_id, stop.shots)
        if not stop.clicked:
            _release(application_id, status=ApplicationStatus.NEEDS_ATTENTION, error=stop.message)
        _attention(application_id, f"{stop.reason}: {stop.message}{way_out(stop.reason)}", source=source, url=stop.url)
        _mark_session(session.id, stop)
        raise SubmissionStopped(stop.message, code=stop.reason) from None
    except Exception as error:  # unknown state: it may have been sent, so a person checks
        logger.exception("Application %s: unexpected error while submitting (task %s)", application_id, task_id)
        _attention(application_id, f"Unexpected error while submitting: {error!r}", source=source)
        raise SubmissionStopped(f"Unexpected error while submitting: {error}") from None
    _save_shots(application_id, outcome.shots)
    return _record_submitted(application_id, outcome, source=source)


def _dry_run(application: Application, *, source: str) -> SubmitResult:
    """Fill the form and screenshot it; never click submit and never take a slot."""
    if conf.enabled():
        gates_check(application, usage=Usage(0, 0, None), now=timezone.now(), caps=False)
    else:
        _dry_run_gates(application)
    session = _session()
    form = _form_input(application)
    try:
        outcome = browser.ApplyBrowser(storage_state=session.storage_state_dict()).submit(form, dry_run=True)
    except browser.BrowserUnavailable as error:
        raise SubmissionRetryable(error.message) from None
    except browser.BrowserStop as stop:
        _save_shots(application.id, stop.shots)
        if isinstance(stop, browser.Stopped):
            _mark_session(session.id, stop)
        message = f"Dry run stopped: {stop.message}{way_out(stop.reason)}"
        _note_dry_run_stop(application.id, message, source=source)
        raise SubmissionStopped(message) from None
    _save_shots(application.id, outcome.shots)
    with transaction.atomic():
        application = _lock(application.id)
        before = _view(application)
        application.last_dry_run_at = timezone.now()
        if application.status == ApplicationStatus.SCHEDULED:  # a dry run replaces that run: approved again
            _set_status(application, ApplicationStatus.APPROVED)
            application.scheduled_for = None
        application.save(
            update_fields=["last_dry_run_at", "status", "status_changed_at", "scheduled_for", "updated_at"]
        )
        _audit(application, "dry_run", before=before, source=source, connects_on_page=outcome.connects_on_page)
    return SubmitResult("dry_run", application.id, message=f"form filled, {len(outcome.shots)} screenshot(s)")


# Stops the proposal's text causes: the way out is to change the proposal, not to retry.
PROPOSAL_REASONS = {"unanswered_question"}


def way_out(reason: str) -> str:
    """What a person does about a stop, said after its reason (empty when retrying or the session is the fix)."""
    if reason in PROPOSAL_REASONS:
        return (
            " Reopen the proposal (admin: Reopen for changes; API: POST /api/proposals/{id}/reopen/; "
            "CLI: manage.py proposals reopen ID), answer the question, approve it, then approve this application again."
        )
    return ""


def _note_dry_run_stop(application_id: int, message: str, *, source: str) -> None:
    """A dry run sends nothing, so the status stays; the reason goes on the application itself (audited)."""
    with transaction.atomic():
        application = _lock(application_id)
        before = _view(application)
        application.error = message
        application.save(update_fields=["error", "updated_at"])
        _audit(application, "dry_run_stopped", before=before, source=source)


def _dry_run_gates(application: Application) -> None:
    """With the kill switch off a dry run is still allowed (it sends nothing); approval still applies."""
    if application.status not in STARTABLE:
        raise GateRefused(
            f"Application {application.id} is {application.status}; only approved or scheduled ones are filled.",
            gate="status",
        )
    if settings.APPLICATIONS_REQUIRE_APPROVAL and application.approved_at is None:
        raise GateRefused(f"Application {application.id} has not been approved by a person.", gate="approval")


def _record_submitted(application_id: int, outcome: browser.SubmitOutcome, *, source: str) -> SubmitResult:
    from queue_app.services import task_enqueue

    now = timezone.now()
    with transaction.atomic():
        application = _lock(application_id)
        before = _view(application)
        if application.status != ApplicationStatus.SUBMITTING:
            logger.warning(
                "Application %s left submitting while the browser ran (%s)", application_id, application.status
            )
        _set_status(application, ApplicationStatus.SUBMITTED, now)
        application.submitted_at = now
        application.confirmation_reference = outcome.reference[:100]
        if outcome.connects_on_page is not None:  # never more than reserved: connects_check refused that
            application.connects_required = outcome.connects_on_page
            application.connects_reserved = min(
                application.connects_reserved, outcome.connects_on_page + application.boost_connects
            )
        application.connects_spent = application.connects_reserved
        application.error = ""
        application.save()
        _audit(application, "submit", before=before, source=source, page_url=outcome.url)
        _job_applied(application.job_id)
        task_enqueue(
            task_type="verify_submission",
            payload={"application_id": application.id},
            delay=settings.APPLICATIONS_VERIFY_DELAY_SECONDS,
            idempotency_key=f"verify_submission:{application.id}:{application.attempts}",
            source=source,
        )
    logger.info("Application %s submitted, reference %s", application_id, outcome.reference)
    return SubmitResult("submitted", application_id, reference=application.confirmation_reference)


def _job_applied(job_id: int) -> None:
    from jobs.services import job_mark_applied

    try:
        job_mark_applied(job_id=job_id)
    except InvalidTransition as error:
        logger.info("Job %s keeps its status: %s", job_id, error.message)


def _attention(application_id: int, message: str, *, source: str, url: str = "") -> None:
    with transaction.atomic():
        application = _lock(application_id)
        before = _view(application)
        _set_status(application, ApplicationStatus.NEEDS_ATTENTION)
        application.error = message
        application.save(update_fields=["status", "status_changed_at", "error", "updated_at"])
        _audit(application, "needs_attention", before=before, source=source, url=url)
    logger.warning("Application %s needs attention: %s", application_id, message)


def _record_failure(application_id: int, message: str, *, source: str) -> None:
    application = Application.objects.filter(id=application_id).first()
    if application is not None:
        with transaction.atomic():
            _audit(application, "fail", before=None, source=source)


# --- verifying --------------------------------------------------------------------
def application_verify(*, application_id: int, source: str = TaskSource.SYSTEM) -> dict:
    """Open the proposals list: the submission must be there. Missing → needs attention."""
    application = Application.objects.select_related("job").filter(id=application_id).first()
    if application is None:
        raise NotFound(f"No application with id {application_id}.")
    if application.status == ApplicationStatus.VERIFIED:
        return {"outcome": "already_verified", "application_id": application_id}
    if application.status != ApplicationStatus.SUBMITTED:
        return {"outcome": "skipped", "application_id": application_id, "status": application.status}
    session = _session()
    try:
        outcome = browser.ApplyBrowser(storage_state=session.storage_state_dict()).verify(
            upwork_id=application.job.upwork_id, reference=application.confirmation_reference
        )
    except browser.BrowserUnavailable as error:
        raise SubmissionRetryable(error.message) from None
    except browser.BrowserStop as stop:
        _save_shots(application_id, stop.shots)
        _attention(application_id, f"Verification stopped: {stop.reason}: {stop.message}", source=source, url=stop.url)
        _mark_session(session.id, stop)
        raise SubmissionStopped(stop.message, code=stop.reason) from None
    _save_shots(application_id, outcome.shots)
    if not outcome.found:
        _attention(
            application_id,
            f"Not in the proposals list (looked for job {application.job.upwork_id}, reference "
            f"{application.confirmation_reference or 'unknown'}; the list has {len(outcome.references)} row(s)).",
            source=source,
            url=outcome.url,
        )
        return {"outcome": "missing", "application_id": application_id}
    with transaction.atomic():
        application = _lock(application_id)
        before = _view(application)
        if application.status == ApplicationStatus.SUBMITTED:
            _set_status(application, ApplicationStatus.VERIFIED)
            application.verified_at = timezone.now()
            application.save(update_fields=["status", "status_changed_at", "verified_at", "updated_at"])
            _audit(application, "verify", before=before, source=source)
    return {"outcome": "verified", "application_id": application_id}


# --- batches ----------------------------------------------------------------------
def applications_batch_schedule(
    *,
    application_ids: list[int] | None = None,
    limit: int | None = None,
    user=None,
    source: str = TaskSource.SYSTEM,
    now: datetime | None = None,
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
            _set_status(application, ApplicationStatus.SCHEDULED, now)
            application.save(update_fields=["scheduled_for", "status", "status_changed_at", "updated_at"])
            task_enqueue(
                task_type="submit_application",
                payload={"application_id": application.id},
                run_at=at if at > now else None,
                source=source,
                user=user,
            )
            _audit(application, "schedule", before=before, source=source, user=user, batch=True)
            scheduled.append({"application_id": application.id, "run_at": at.isoformat()})
            remaining -= 1
            budget_left -= needed
            at = _next_gap(at)
    return {"scheduled": scheduled, "skipped": skipped}


def application_dry_run_request(*, application_id: int, user=None, source: str = TaskSource.SYSTEM):
    """Queue a dry run: the form is filled and screenshotted, submit is never clicked, no slot is taken."""
    from queue_app.services import task_enqueue

    application = Application.objects.filter(id=application_id).first()
    if application is None:
        raise NotFound(f"No application with id {application_id}.")
    _dry_run_gates(application)
    return task_enqueue(
        task_type="submit_application",
        payload={"application_id": application.id, "dry_run": True},
        source=source,
        user=user,
    )


def applications_batch_request(
    *, application_ids: list[int] | None = None, limit: int | None = None, user=None, source: str = TaskSource.SYSTEM
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
        source=source,
        user=user,
    )


def limits_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """The safety settings and how much of today's cap and this month's budget is used."""
    now = now or timezone.now()
    usage = usage_read(now=now)
    cap = conf.daily_cap()
    budget = settings.APPLICATIONS_MONTHLY_CONNECTS_BUDGET
    return {
        "settings": conf.safety_settings(),
        "today": {"submissions": usage.today, "cap": cap, "remaining": max(0, cap - usage.today)},
        "month": {
            "connects": usage.month_connects,
            "budget": budget,
            "remaining": max(0, budget - usage.month_connects),
        },
        "next_submission_not_before": usage.gap_until if usage.gap_until and usage.gap_until > now else None,
        "scheduled": Application.objects.filter(status=ApplicationStatus.SCHEDULED).count(),
        "needs_attention": selectors.needing_attention_count(),
    }
