"""What the applications services share: the status groups, the gate error, locking and the audit row."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from applications.models import Application, ApplicationStatus
from core import transitions
from core.actor import Actor
from core.errors import ApplicationError, ValidationFailed

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


def _user_or_none(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _lock(application_id: int) -> Application:
    return transitions.lock(Application, application_id, related=("job", "proposal"))


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


def _transition(application_id: int, **fields):
    """transitions.transition for an application (locked with its job and proposal, audited with _view)."""
    return transitions.transition(Application, application_id, related=("job", "proposal"), view=_view, **fields)


def _audit(application: Application, action: str, *, before: dict | None, actor: Actor, **extra) -> None:
    transitions.audit(
        application,
        action,
        before=before,
        after={**_view(application), **extra},
        actor=actor,
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
