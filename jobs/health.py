"""The browser's health check, registered with the queue's (queue_app.health) in JobsConfig.ready()."""

from __future__ import annotations

from django.conf import settings

from queue_app.health import Alert
from upwork_automation import chromium


def browser_alerts(checks: dict) -> list[Alert]:
    """Discovery's browser source and submissions need a Chromium; say so before a task fails on it."""
    found = chromium.status(settings.JOBS_BROWSER_EXECUTABLE)
    checks["browser"] = found
    if found["available"]:
        return []
    return [Alert("browser_unavailable", "warning", found["error"], False, True)]
