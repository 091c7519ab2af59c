"""Verifying a submitted application on Upwork."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from applications import browser
from applications.models import Application, ApplicationStatus
from applications.services.common import _audit, _lock, _view
from applications.services.evidence import _mark_session, _save_shots, _session
from applications.services.submission import SubmissionRetryable, SubmissionStopped, _attention
from queue_app.errors import NotFound
from queue_app.models import TaskSource
from upwork_automation import transitions


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
        _attention(
            application_id,
            f"Verification stopped: {stop.reason}: {stop.message}",
            source=source,
            url=stop.url,
            what="verification_failed",
        )
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
            what="verification_failed",
        )
        return {"outcome": "missing", "application_id": application_id}
    with transaction.atomic():
        application = _lock(application_id)
        before = _view(application)
        if application.status == ApplicationStatus.SUBMITTED:
            transitions.set_status(application, ApplicationStatus.VERIFIED)
            application.verified_at = timezone.now()
            application.save(update_fields=["status", "status_changed_at", "verified_at", "updated_at"])
            _audit(application, "verify", before=before, source=source)
    return {"outcome": "verified", "application_id": application_id}
