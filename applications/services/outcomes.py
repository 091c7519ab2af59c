"""Outcome tracking: what became of every sent proposal, read from the official API and the proposals pages.

One run (`OutcomeRun`) reads every source it can, matches each proposal to its application (reference, then
job), and records each new event once (`OutcomeEvent`, unique per application and kind) under the
application's row lock: a re-run or a second source that saw the same thing changes nothing. Like submission
and verification, the browser never goes past a CAPTCHA or a login wall: the run keeps what the pages before
it showed, stops, flags the browser session and is marked stopped (health alerts on it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from applications import browser
from applications.models import (
    FINAL_OUTCOMES,
    OUTCOME_RANK,
    Application,
    ApplicationStatus,
    Outcome,
    OutcomeEvent,
    OutcomeKind,
    OutcomeRun,
    OutcomeRunStatus,
    OutcomeSource,
)
from applications.outcome_sources import ProposalState, api_read_proposals
from applications.services.evidence import _mark_session
from queue_app.errors import ApplicationError, ValidationFailed
from queue_app.models import TaskSource
from upwork_automation import transitions

logger = logging.getLogger(__name__)

SOURCES = (OutcomeSource.API, OutcomeSource.BROWSER)
TRACKED_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.VERIFIED)


class OutcomeTrackingStopped(ApplicationError):
    """A CAPTCHA, a login wall or an unexpected page stopped the run; what was read before it is kept."""

    code = "outcome_tracking_stopped"
    status_code = 409


class OutcomeTrackingUnavailable(ApplicationError):
    """No source could be read (none connected, Chromium did not start, the API failed): try again later."""

    code = "outcome_tracking_unavailable"
    status_code = 503


@dataclass
class _Tally:
    checked: int = 0
    events: int = 0
    refunded: int = 0


def outcomes_track(
    *,
    sources: list[str] | None = None,
    task_id: str = "",
    source: str = TaskSource.SYSTEM,
    now: datetime | None = None,
) -> OutcomeRun:
    """Follow every sent application not yet in a final outcome; return the finished run.

    `sources` is any of "api" and "browser" (default both, each when connected). Raises OutcomeTrackingStopped
    after a wall (the run is saved as stopped) and OutcomeTrackingUnavailable when nothing could be read.
    """
    wanted = list(dict.fromkeys(sources or SOURCES))
    unknown = [name for name in wanted if name not in SOURCES]
    if unknown:
        raise ValidationFailed(
            f"Unknown outcome source(s) {unknown}: use api and/or browser.", field_errors={"sources": unknown}
        )
    now = now or timezone.now()
    run = OutcomeRun.objects.create(task_id=task_id[:64], sources=wanted)
    tracked = _tracked()
    tally = _Tally(checked=len(tracked))
    if not tracked:
        return _finish(run, OutcomeRunStatus.COMPLETED, tally)
    read, errors = [], []
    try:
        if OutcomeSource.API in wanted:
            _read_api(run, tracked, tally, read, errors, source=source)
        if OutcomeSource.BROWSER in wanted:
            _read_browser(run, tracked, tally, read, errors, source=source)
    except OutcomeTrackingStopped:
        raise
    except Exception as error:
        logger.exception("Outcome run %s (task %s) failed", run.id, task_id)
        _finish(run, OutcomeRunStatus.FAILED, tally, error=f"{type(error).__name__}: {error}")
        raise
    if not read:
        message = " ".join(errors) or "No outcome source could be read."
        _finish(run, OutcomeRunStatus.FAILED, tally, error=message)
        raise OutcomeTrackingUnavailable(message)
    # Silence is only evidence after a complete read: never after a stop or with no source read.
    tally.events += _record_no_response([a.id for a in tracked], now=now, run_id=run.id, source=source)
    Application.objects.filter(id__in=[a.id for a in tracked]).update(outcome_checked_at=now)
    return _finish(run, OutcomeRunStatus.COMPLETED, tally, error=" ".join(errors))


def _tracked() -> list[Application]:
    from applications.selectors import applications_to_track

    return list(applications_to_track())


def _read_api(run, tracked, tally, read, errors, *, source: str) -> None:
    from jobs.errors import ApiError
    from jobs.selectors import oauth_token_active
    from jobs.services import oauth_token_store
    from jobs.sources.upwork_api import TokenSet, UpworkGraphQLClient

    token = oauth_token_active()
    if token is None or not settings.UPWORK_CLIENT_ID:
        errors.append("The Upwork API is not connected (manage.py jobs upwork-connect); API not read.")
        return
    client = UpworkGraphQLClient(
        tokens=TokenSet(
            access_token=token.access_token,
            refresh_token=token.refresh_token,
            expires_at=token.expires_at,
            token_type=token.token_type,
            scope=token.scope,
        )
    )
    try:
        states = api_read_proposals(client)
    except ApiError as error:
        errors.append(f"API: {error}")
        return
    finally:
        if client.refreshes:
            oauth_token_store(account=token.account, tokens=client.tokens)
        client.close()
    _record_states(run, tracked, states, tally, kind_source=OutcomeSource.API, source=source)
    read.append(OutcomeSource.API)


def _read_browser(run, tracked, tally, read, errors, *, source: str) -> None:
    from jobs.selectors import browser_session_usable

    session = browser_session_usable()
    if session is None:
        errors.append("No active browser session (manage.py jobs import-session); proposals pages not read.")
        return
    try:
        result = browser.ApplyBrowser(storage_state=session.storage_state_dict()).read_proposals()
    except browser.BrowserUnavailable as error:
        errors.append(f"Browser: {error.message}")
        return
    except browser.BrowserStop as stop:
        # What the pages before the wall showed is true and kept; nothing is guessed about the rest.
        _record_states(run, tracked, stop.partial, tally, kind_source=OutcomeSource.BROWSER, source=source)
        _mark_session(session.id, stop)
        _save_stop_shot(run, stop)
        _finish(run, OutcomeRunStatus.STOPPED, tally, stop_reason=stop.reason, error=stop.message)
        logger.warning("Outcome run %s stopped: %s: %s", run.id, stop.reason, stop.message)
        raise OutcomeTrackingStopped(
            f"Outcome tracking stopped at {stop.url or 'the proposals list'}: {stop.reason}: {stop.message} "
            f"({len(stop.partial)} proposal row(s) read before it were recorded.) Fix the browser session "
            "(admin: Browser sessions) and run it again: manage.py applications track-outcomes.",
            code=stop.reason,
        ) from None
    _record_states(run, tracked, result.states, tally, kind_source=OutcomeSource.BROWSER, source=source)
    read.append(OutcomeSource.BROWSER)


def _save_stop_shot(run: OutcomeRun, stop: browser.BrowserStop) -> None:
    """The page that stopped the run, kept as evidence on the run (like a submission's attention screenshot)."""
    shot = next((s for s in reversed(stop.shots) if s.kind == "attention"), None)
    if shot is not None:
        run.screenshot.save(f"outcome-run-{run.id}-{shot.kind}.png", ContentFile(shot.png), save=False)


def _record_states(
    run: OutcomeRun,
    tracked: list[Application],
    states: list[ProposalState],
    tally: _Tally,
    *,
    kind_source: str,
    source: str,
) -> None:
    by_reference = {a.confirmation_reference: a for a in tracked if a.confirmation_reference}
    by_job = {a.job.upwork_id: a for a in tracked}
    for state in states:
        application = by_reference.get(state.reference) or by_job.get(state.upwork_id)
        if application is None:
            continue
        recorded, refunded = outcome_events_record(
            application_id=application.id,
            events=state.events,
            connects_spent=state.connects_spent,
            connects_refunded=state.connects_refunded,
            event_source=kind_source,
            detail={
                "run": run.id,
                "status": state.status,
                "reference": state.reference,
                **({"connects_refunded": state.connects_refunded} if state.connects_refunded else {}),
            },
            source=source,
        )
        tally.events += recorded
        tally.refunded += refunded
    OutcomeRun.objects.filter(id=run.id).update(events_recorded=tally.events, connects_refunded=tally.refunded)


def outcome_events_record(
    *,
    application_id: int,
    events: list[tuple[str, datetime | None]],
    event_source: str,
    connects_spent: int | None = None,
    connects_refunded: int | None = None,
    detail: dict | None = None,
    source: str = TaskSource.SYSTEM,
) -> tuple[int, int]:
    """Record the events not yet recorded (once per kind), move the outcome forward, take in a refund.

    Returns (events recorded, Connects newly refunded). Idempotent: the same input again records nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        application = transitions.lock(Application, application_id)
        seen = set(application.outcome_events.values_list("kind", flat=True))
        before = _outcome_view(application)
        new = []
        for kind, occurred_at in sorted(events, key=lambda item: item[1] or now):
            if kind in seen or kind not in OutcomeKind.values:
                continue
            seen.add(kind)
            new.append(
                OutcomeEvent(
                    application=application,
                    kind=kind,
                    occurred_at=occurred_at or now,
                    source=event_source,
                    detail=dict(detail or {}),
                )
            )
        OutcomeEvent.objects.bulk_create(new)
        for event in new:
            _advance(application, event.kind, event.occurred_at)
        refunded = 0
        if not application.connects_spent and connects_spent:
            application.connects_spent = connects_spent  # submitted before spend was recorded: the page says
        if connects_refunded:
            total = min(connects_refunded, application.connects_spent)
            refunded = max(0, total - application.connects_refunded)
            application.connects_refunded += refunded
        if new or refunded or application.connects_spent != before["connects_spent"]:
            application.save(
                update_fields=[
                    "outcome",
                    "outcome_changed_at",
                    "connects_spent",
                    "connects_refunded",
                    "updated_at",
                ]
            )
            transitions.audit(
                application,
                "outcome",
                before=before,
                after={**_outcome_view(application), "events": [e.kind for e in new], "from": event_source},
                source=source,
            )
    return len(new), refunded


def _advance(application: Application, kind: str, occurred_at: datetime) -> None:
    """The outcome only moves forward along the funnel; the first final outcome (or a hire) ends it."""
    current = application.outcome
    if current in FINAL_OUTCOMES and kind != Outcome.HIRED:
        return
    if OUTCOME_RANK[Outcome(kind)] > OUTCOME_RANK[Outcome(current)]:
        application.outcome = kind
        application.outcome_changed_at = occurred_at


def _outcome_view(application: Application) -> dict:
    return {
        "outcome": application.outcome,
        "connects_spent": application.connects_spent,
        "connects_refunded": application.connects_refunded,
    }


def _record_no_response(application_ids: list[int], *, now: datetime, run_id: int, source: str) -> int:
    """A sent proposal with no client event at all after OUTCOME_NO_RESPONSE_DAYS: no_response, once."""
    days = settings.OUTCOME_NO_RESPONSE_DAYS
    silent = Application.objects.filter(
        id__in=application_ids,
        outcome=Outcome.PENDING,
        submitted_at__lte=now - timedelta(days=days),
        outcome_events__isnull=True,
    ).values_list("id", "submitted_at")
    recorded = 0
    for application_id, submitted_at in silent:
        count, _ = outcome_events_record(
            application_id=application_id,
            events=[(OutcomeKind.NO_RESPONSE, submitted_at + timedelta(days=days))],
            event_source=OutcomeSource.SYSTEM,
            detail={"run": run_id, "days": days},
            source=source,
        )
        recorded += count
    return recorded


def _finish(run: OutcomeRun, status: str, tally: _Tally, *, stop_reason: str = "", error: str = "") -> OutcomeRun:
    run.status = status
    run.finished_at = timezone.now()
    run.applications_checked = tally.checked
    run.events_recorded = tally.events
    run.connects_refunded = tally.refunded
    run.stop_reason = stop_reason[:40]
    run.error = error
    run.save()
    logger.info(
        "Outcome run %s %s: %d application(s), %d event(s), %d Connects refunded",
        run.id,
        status,
        tally.checked,
        tally.events,
        tally.refunded,
    )
    return run
