"""Every write of the applications app: approval, scheduling, the safety gates, submitting, verifying.

The gates (kill switch, approval, daily cap, gap, monthly Connects budget, per-job maximum, boosting) are
checked in `gates`, at the moment a submission slot is taken, under one PostgreSQL advisory lock: two workers
racing cannot both pass a cap. The browser runs outside any transaction; its outcome is recorded after.
"""

from applications.services.batches import (
    application_dry_run_request,
    applications_batch_request,
    applications_batch_schedule,
)
from applications.services.common import (
    CANCELLABLE,
    REOPENABLE,
    SESSION_REASONS,
    STARTABLE,
    SUBMISSION_LOCK_KEY,
    GateRefused,
)
from applications.services.gates import (
    application_claim,
    connects_needed,
    gates_check,
)
from applications.services.lifecycle import (
    HOLDABLE,
    SENT,
    application_approve,
    application_cancel,
    application_create,
    application_defer,
    application_reopen,
    application_schedule,
    applications_hold_for_proposal,
)
from applications.services.outcomes import (
    OutcomeTrackingStopped,
    OutcomeTrackingUnavailable,
    outcome_events_record,
    outcomes_track,
)
from applications.services.submission import (
    PROPOSAL_REASONS,
    SubmissionRetryable,
    SubmissionStopped,
    SubmitResult,
    application_submit,
    way_out,
)
from applications.services.verification import (
    application_verify,
)

__all__ = [
    "CANCELLABLE",
    "HOLDABLE",
    "PROPOSAL_REASONS",
    "REOPENABLE",
    "SENT",
    "SESSION_REASONS",
    "STARTABLE",
    "SUBMISSION_LOCK_KEY",
    "GateRefused",
    "OutcomeTrackingStopped",
    "OutcomeTrackingUnavailable",
    "SubmissionRetryable",
    "SubmissionStopped",
    "SubmitResult",
    "application_approve",
    "application_cancel",
    "application_claim",
    "application_create",
    "application_defer",
    "application_dry_run_request",
    "application_reopen",
    "application_schedule",
    "application_submit",
    "application_verify",
    "applications_batch_request",
    "applications_batch_schedule",
    "applications_hold_for_proposal",
    "connects_needed",
    "gates_check",
    "outcome_events_record",
    "outcomes_track",
    "way_out",
]
