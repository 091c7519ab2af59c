"""Submitting an application through the browser (or a dry run) and recording the outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from applications import browser, conf
from applications.models import Application, ApplicationStatus
from applications.selectors import Usage
from applications.services.common import STARTABLE, GateRefused, _audit, _lock, _view
from applications.services.evidence import _form_input, _mark_session, _save_shots, _session
from applications.services.gates import _note_refusal, _release, application_claim, gates_check
from queue_app.errors import ApplicationError, InvalidTransition, NotFound
from queue_app.models import TaskSource
from upwork_automation import transitions

logger = logging.getLogger(__name__)


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
            transitions.set_status(application, ApplicationStatus.APPROVED)
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
    from notifications.services import notify_application
    from queue_app.services import task_enqueue

    now = timezone.now()
    with transaction.atomic():
        application = _lock(application_id)
        before = _view(application)
        if application.status != ApplicationStatus.SUBMITTING:
            logger.warning(
                "Application %s left submitting while the browser ran (%s)", application_id, application.status
            )
        transitions.set_status(application, ApplicationStatus.SUBMITTED, now)
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
        notify_application(application, what="submitted")
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


def _attention(application_id: int, message: str, *, source: str, url: str = "", what: str = "needs_attention") -> None:
    """Needs attention, said on the notification channels too (what: needs_attention or verification_failed)."""
    from notifications.services import notify_application

    with transaction.atomic():
        application = _lock(application_id)
        before = _view(application)
        transitions.set_status(application, ApplicationStatus.NEEDS_ATTENTION)
        application.error = message
        application.save(update_fields=["status", "status_changed_at", "error", "updated_at"])
        _audit(application, "needs_attention", before=before, source=source, url=url)
        notify_application(application, what=what)
    logger.warning("Application %s needs attention: %s", application_id, message)


def _record_failure(application_id: int, message: str, *, source: str) -> None:
    application = Application.objects.filter(id=application_id).first()
    if application is not None:
        with transaction.atomic():
            _audit(application, "fail", before=None, source=source)
