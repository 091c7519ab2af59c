"""The applications' health check, registered with the queue's (queue_app.health) in ApplicationsConfig.ready()."""

from __future__ import annotations

from applications.selectors import needing_attention_count
from queue_app.health import Alert


def applications_alerts(checks: dict) -> list[Alert]:
    """Applications stopped by a CAPTCHA, a login wall or an unexpected page wait for a person."""
    count = needing_attention_count()
    checks["applications_needing_attention"] = count
    if count <= 0:
        return []
    return [
        Alert(
            "applications_need_attention",
            "warning",
            f"{count} application(s) need attention (CAPTCHA, login wall, unexpected page or unverified); "
            "see /admin/applications/application/?status__exact=needs_attention.",
            count,
            0,
        )
    ]
