"""Queue health: a 0-100 score, the alerts that lower it, and healthy / degraded / critical."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError

from queue_app import rq_adapter, selectors, transport

logger = logging.getLogger(__name__)

# Written by the scheduler process every cycle (ISO time), expiring after three cycles.
SCHEDULER_HEARTBEAT_KEY = "queue:scheduler:heartbeat"

HEALTHY, DEGRADED, CRITICAL = "healthy", "degraded", "critical"
EXIT_CODES = {HEALTHY: 0, DEGRADED: 1, CRITICAL: 2}

# Points each alert takes off the score of 100.
PENALTIES = {
    "database_unreachable": 60,
    "redis_unreachable": 60,
    "no_workers": 50,
    "stale_worker_heartbeat": 20,
    "high_failure_rate": 25,
    # Failing over the threshold, but fewer tasks than HEALTH_MIN_SAMPLE: too few for a rate, too many to ignore.
    "failures_in_small_sample": 10,
    "slow_processing": 15,
    "queue_backlog": 15,
    "scheduler_not_running": 15,
}  # and those of the checks the apps register (register_check)
CRITICAL_ALERTS = {"database_unreachable", "redis_unreachable", "no_workers"}


@dataclass
class Alert:
    code: str
    severity: str  # "warning" or "critical"
    message: str
    value: Any
    threshold: Any

    @property
    def penalty(self) -> int:
        return PENALTIES[self.code]


Check = Callable[[dict], list[Alert]]

# The apps' checks (register_check), each with whether it reads the database.
_checks: dict[Check, bool] = {}


def register_check(check: Check, *, penalties: dict[str, int], needs_database: bool = False) -> None:
    """Add an app's check to queue_health, called from its AppConfig.ready().

    The check records what it found in the `checks` dict it is given and returns its alerts (warnings);
    `penalties` gives the points each of its alert codes takes off the score. A check that reads the
    database runs only when PostgreSQL answers.
    """
    PENALTIES.update(penalties)
    _checks[check] = needs_database


def _alert(code: str, message: str, value: Any, threshold: Any) -> Alert:
    return Alert(code, "critical" if code in CRITICAL_ALERTS else "warning", message, value, threshold)


def thresholds() -> dict:
    return {
        "failure_rate_max": settings.HEALTH_FAILURE_RATE_MAX,
        "avg_duration_max_seconds": settings.HEALTH_AVG_DURATION_MAX,
        "pending_max": settings.HEALTH_PENDING_MAX,
        "heartbeat_max_age_seconds": settings.HEALTH_HEARTBEAT_MAX_AGE,
        "window_minutes": settings.HEALTH_WINDOW_MINUTES,
        "min_sample": settings.HEALTH_MIN_SAMPLE,
        "scheduler_enabled": settings.SCHEDULER_ENABLED,
    }


def _database_alerts(checks: dict, now: datetime) -> list[Alert]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        checks["database"] = {"reachable": False, "error": str(error).strip()}
        return [_alert("database_unreachable", f"PostgreSQL is unreachable: {error}".strip(), False, True)]
    checks["database"] = {"reachable": True}
    alerts = []
    limits = thresholds()
    window = selectors.overall_performance(minutes=limits["window_minutes"], now=now)
    ran = window["completed"] + window["failed"]
    checks["window"] = {key: window[key] for key in ("completed", "failed", "failure_rate", "duration_avg")}
    if ran >= limits["min_sample"] and window["failure_rate"] > limits["failure_rate_max"]:
        alerts.append(
            _alert(
                "high_failure_rate",
                f"{window['failure_rate']:.0%} of the {ran} tasks finished in the last "
                f"{limits['window_minutes']} min failed (threshold {limits['failure_rate_max']:.0%}).",
                window["failure_rate"],
                limits["failure_rate_max"],
            )
        )
    elif 0 < ran < limits["min_sample"] and window["failure_rate"] > limits["failure_rate_max"]:
        alerts.append(
            _alert(
                "failures_in_small_sample",
                f"{window['failed']} of {ran} tasks failed in the last {limits['window_minutes']} min "
                f"(too few for a failure rate: HEALTH_MIN_SAMPLE is {limits['min_sample']}); look at them.",
                window["failure_rate"],
                limits["failure_rate_max"],
            )
        )
    if ran >= limits["min_sample"] and (window["duration_avg"] or 0) > limits["avg_duration_max_seconds"]:
        alerts.append(
            _alert(
                "slow_processing",
                f"Tasks took {window['duration_avg']:.0f} s on average in the last {limits['window_minutes']} min "
                f"(threshold {limits['avg_duration_max_seconds']:.0f} s).",
                window["duration_avg"],
                limits["avg_duration_max_seconds"],
            )
        )
    for check, needs_database in _checks.items():
        if needs_database:
            alerts += check(checks)
    waiting = selectors.waiting_summary(now=now)
    checks["pending"] = waiting["count"]
    checks["oldest_waiting"] = waiting["oldest"]
    if waiting["count"] > limits["pending_max"]:
        alerts.append(
            _alert(
                "queue_backlog",
                f"{waiting['count']} tasks are waiting to start (threshold {limits['pending_max']}).",
                waiting["count"],
                limits["pending_max"],
            )
        )
    return alerts


def _redis_alerts(checks: dict, conn: Redis, now: datetime) -> list[Alert]:
    try:
        conn.ping()
        workers = selectors.live_workers(conn, now=now) if checks["database"]["reachable"] else _bare_workers(conn, now)
        scheduler_beat = conn.get(SCHEDULER_HEARTBEAT_KEY)
    except RedisError as error:
        checks["redis"] = {"reachable": False, "error": str(error)}
        return [_alert("redis_unreachable", f"Redis is unreachable: {error}", False, True)]
    checks["redis"] = {"reachable": True}
    limits = thresholds()
    alerts = []
    checks["workers"] = [
        {key: worker[key] for key in ("name", "state", "last_heartbeat", "heartbeat_age_seconds", "current_task_id")}
        for worker in workers
    ]
    if not workers:
        alerts.append(_alert("no_workers", "No worker is running: nothing will be processed.", 0, 1))
    stale = [
        worker
        for worker in workers
        if worker["heartbeat_age_seconds"] is None
        or worker["heartbeat_age_seconds"] > limits["heartbeat_max_age_seconds"]
    ]
    if stale:
        oldest = max(worker["heartbeat_age_seconds"] or 0 for worker in stale)
        alerts.append(
            _alert(
                "stale_worker_heartbeat",
                f"{len(stale)} worker(s) sent no heartbeat for over {limits['heartbeat_max_age_seconds']} s "
                f"({', '.join(worker['name'] for worker in stale)}); they may be hung or dead.",
                oldest,
                limits["heartbeat_max_age_seconds"],
            )
        )
    beat = scheduler_beat.decode() if isinstance(scheduler_beat, bytes) else scheduler_beat
    checks["scheduler"] = {"enabled": settings.SCHEDULER_ENABLED, "running": beat is not None, "last_cycle": beat}
    if settings.SCHEDULER_ENABLED and beat is None:
        alerts.append(
            _alert(
                "scheduler_not_running",
                "The scheduler is not running (no heartbeat in Redis): scheduled and recurring tasks will not fire.",
                False,
                True,
            )
        )
    return alerts


def _bare_workers(conn: Redis, now: datetime) -> list[dict]:
    """Live workers without the task lookup, for when PostgreSQL is down."""
    return [
        {
            "name": worker.name,
            "state": worker.state,
            "last_heartbeat": worker.last_heartbeat.isoformat() if worker.last_heartbeat else None,
            "heartbeat_age_seconds": (
                round((now - worker.last_heartbeat).total_seconds(), 1) if worker.last_heartbeat else None
            ),
            "current_task_id": worker.current_job_id,
        }
        for worker in rq_adapter.workers(conn)
    ]


def queue_health(*, now: datetime | None = None, redis_connection: Redis | None = None) -> dict:
    """Check PostgreSQL, Redis, workers, scheduler and the last window's figures; score them.

    Status: critical when any critical alert is raised or the score is below 50, degraded
    with any other alert, healthy without alerts.
    """
    now = now or timezone.now()
    checks: dict[str, Any] = {}
    alerts = _database_alerts(checks, now)
    alerts += _redis_alerts(checks, redis_connection or transport.get_connection(), now)
    for check, needs_database in _checks.items():
        if not needs_database:
            alerts += check(checks)
    score = max(0, 100 - sum(alert.penalty for alert in alerts))
    if any(alert.severity == "critical" for alert in alerts) or score < 50:
        status = CRITICAL
    elif alerts:
        status = DEGRADED
    else:
        status = HEALTHY
    return {
        "status": status,
        "score": score,
        "checked_at": now.isoformat(),
        "alerts": [asdict(alert) for alert in alerts],
        "checks": checks,
        "thresholds": thresholds(),
    }


__all__ = ["EXIT_CODES", "SCHEDULER_HEARTBEAT_KEY", "Alert", "queue_health", "register_check", "thresholds"]
