"""The applications' health check, registered with the queue's (queue_app.health) in ApplicationsConfig.ready()."""

from __future__ import annotations

from applications.models import OutcomeRunStatus
from applications.selectors import needing_attention_count, outcome_run_latest
from queue_app.health import Alert


def applications_alerts(checks: dict) -> list[Alert]:
    """Applications stopped by a CAPTCHA, a login wall or an unexpected page wait for a person."""
    alerts = _outcome_alerts(checks)
    count = needing_attention_count()
    checks["applications_needing_attention"] = count
    if count <= 0:
        return alerts
    return [
        *alerts,
        Alert(
            "applications_need_attention",
            "warning",
            f"{count} application(s) need attention (CAPTCHA, login wall, unexpected page or unverified); "
            "see /admin/applications/application/?status__exact=needs_attention.",
            count,
            0,
        ),
    ]


def _outcome_alerts(checks: dict) -> list[Alert]:
    """The last outcome tracking run stopped at a CAPTCHA or a wall: nothing is followed until a person looks."""
    run = outcome_run_latest()
    checks["outcome_tracking_last_run"] = run.status if run else None
    if run is None or run.status != OutcomeRunStatus.STOPPED:
        return []
    return [
        Alert(
            "outcome_tracking_stopped",
            "warning",
            f"Outcome tracking run #{run.id} stopped ({run.stop_reason}: {run.error}); fix the browser session "
            "and run `manage.py applications track-outcomes`.",
            run.stop_reason,
            "",
        )
    ]
