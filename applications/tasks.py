"""Queue entry points for applications: take ids, call a service, turn refusals into permanent failures."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework import serializers

from applications import services
from core.errors import NotFound, PermanentTaskError
from queue_app.registry import TaskContext

logger = logging.getLogger(__name__)


class SubmitApplicationPayload(serializers.Serializer):
    application_id = serializers.IntegerField(min_value=1)
    dry_run = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Fill and screenshot only; default APPLICATIONS_DRY_RUN.",
    )


class BatchSubmitApplicationsPayload(serializers.Serializer):
    application_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_null=True, default=None
    )
    limit = serializers.IntegerField(required=False, min_value=1, allow_null=True, default=None)


class VerifySubmissionPayload(serializers.Serializer):
    application_id = serializers.IntegerField(min_value=1)


class TrackOutcomesPayload(serializers.Serializer):
    sources = serializers.ListField(
        child=serializers.ChoiceField(choices=["api", "browser"]),
        required=False,
        allow_null=True,
        default=None,
        help_text="Where to read outcomes; default both, each when connected.",
    )


class AnalyticsRefreshPayload(serializers.Serializer):
    days = serializers.IntegerField(
        required=False, min_value=1, max_value=3650, allow_null=True, default=None,
        help_text="The calibration window; default ANALYTICS_CALIBRATION_DAYS.",
    )  # fmt: skip
    full = serializers.BooleanField(required=False, default=False, help_text="Recount every day of the rollup.")
    force = serializers.BooleanField(
        required=False, default=False, help_text="Fit the calibration again even if its data looks unchanged."
    )


def submit_application(payload: dict, context: TaskContext) -> dict:
    """Every gate is checked now; a refusal or a stop fails the task at once, the gap defers it."""
    application_id = payload["application_id"]
    try:
        result = services.application_submit(
            application_id=application_id, dry_run=payload.get("dry_run"), task_id=context.task_id
        )
    except NotFound:
        logger.info("Task %s: application %s is gone", context.task_id, application_id)
        return {"outcome": "gone", "application_id": application_id}
    except services.GateRefused as refused:
        if refused.gate == "gap" and refused.wait_seconds:
            return _defer(application_id, refused, payload, context)
        raise PermanentTaskError(f"[{refused.gate}] {refused.message}") from None
    except services.SubmissionStopped as stopped:
        raise PermanentTaskError(f"[{stopped.code}] {stopped.message}") from None
    return result.as_dict()


def _defer(application_id: int, refused: services.GateRefused, payload: dict, context: TaskContext) -> dict:
    from queue_app.services import task_enqueue

    wait = refused.wait_seconds + 1
    task = task_enqueue(
        task_type="submit_application",
        payload=payload,
        delay=wait,
        idempotency_key=f"submit_application:{application_id}:after:{context.task_id}",
    )
    services.application_defer(application_id=application_id, run_at=task.run_at)
    logger.info("Task %s: application %s waits %.0f s for the gap", context.task_id, application_id, wait)
    return {"outcome": "deferred", "application_id": application_id, "wait_seconds": wait, "next_task": str(task.id)}


def batch_submit_applications(payload: dict, context: TaskContext) -> dict:
    try:
        return services.applications_batch_schedule(
            application_ids=payload.get("application_ids"), limit=payload.get("limit")
        )
    except services.GateRefused as refused:
        raise PermanentTaskError(f"[{refused.gate}] {refused.message}") from None


def verify_submission(payload: dict, context: TaskContext) -> dict:
    application_id = payload["application_id"]
    try:
        return services.application_verify(application_id=application_id)
    except NotFound:
        return {"outcome": "gone", "application_id": application_id}
    except services.GateRefused as refused:
        raise PermanentTaskError(f"[{refused.gate}] {refused.message}") from None
    except services.SubmissionStopped as stopped:
        raise PermanentTaskError(f"[{stopped.code}] {stopped.message}") from None


def track_outcomes(payload: dict, context: TaskContext) -> dict:
    """One outcome tracking run; a wall stops it for good (a person fixes the session), no source = retry."""
    try:
        run = services.outcomes_track(sources=payload.get("sources"), task_id=context.task_id)
    except services.OutcomeTrackingStopped as stopped:
        raise PermanentTaskError(f"[{stopped.code}] {stopped.message}") from None
    if run.events_recorded or run.connects_refunded:  # the figures changed: recount and refit in the background
        from applications.analytics import background

        background.calibration_enqueue(settings.ANALYTICS_CALIBRATION_DAYS)
    return {
        "outcome": run.status,
        "run": run.id,
        "applications_checked": run.applications_checked,
        "events_recorded": run.events_recorded,
        "connects_refunded": run.connects_refunded,
    }


def analytics_refresh(payload: dict, context: TaskContext) -> dict:
    """The analytics rollup's changed days and the calibration report, out of any request (see
    applications/analytics/background.py)."""
    from applications.analytics import background

    return background.refresh(
        days=payload.get("days"), full=payload.get("full", False), force=payload.get("force", False)
    )
