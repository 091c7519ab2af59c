"""Watching: a search profile polls the official API every poll_seconds and runs the fast path for new postings.

The path of one posting: `watch_tick` (a cron schedule, every minute) enqueues one `watch_poll` per watching
profile for each poll_seconds slot of the coming minute, each at its slot's time (idempotency key per profile and
slot, so overlapping ticks never double a poll); `watch_poll` reads the first page of each of the profile's searches,
keeps only postings not in the profile's seen-set (`WatchSeen`, unique (profile, upwork id), claimed with one
INSERT … ON CONFLICT DO NOTHING RETURNING), stores and scores them, and enqueues one `watch_fast_path` per new job at
critical priority; `watch_fast_path` sends the alert (notifications' `notify_job_alert`) and, with the profile's
`auto_draft`, enqueues `watch_draft` at high priority, which drafts the proposal and sends a "draft ready" message.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from jobs.errors import ApiAuthError, NoUsableSession, SourceError
from jobs.models import Job, SearchProfile, SourceKind, WatchSeen
from jobs.sources.base import JobRecord

logger = logging.getLogger(__name__)

WATCH_STOPPED_EVENT = "watch_stopped"
TICK_HORIZON_SECONDS = 60  # watch_tick runs every minute and plans the polls of the minute ahead


# --- Rules -----------------------------------------------------------------------------------------------


def searches_per_poll(profile: SearchProfile) -> int:
    from jobs.services.searches import specs_for_profile

    return max(1, len(specs_for_profile(profile)))


def watch_poll_floor(*, profile: SearchProfile) -> int:
    """The shortest poll_seconds the API's rate limit allows this profile.

    max(WATCH_MIN_POLL_SECONDS, ceil(86400 * searches per poll / (UPWORK_API_DAILY_LIMIT * WATCH_API_SHARE))):
    each poll reads one page per search, and a watching profile may spend WATCH_API_SHARE of the key's daily limit.
    """
    budget = max(settings.UPWORK_API_DAILY_LIMIT * settings.WATCH_API_SHARE, 1.0)
    derived = math.ceil(86400 * searches_per_poll(profile) / budget)
    return max(int(settings.WATCH_MIN_POLL_SECONDS), derived)


def watch_settings_errors(*, profile: SearchProfile) -> dict[str, list[str]]:
    """Field errors of a profile's watch settings (the admin's clean() and the API serializer both call this)."""
    errors: dict[str, list[str]] = {}
    floor = watch_poll_floor(profile=profile)
    if profile.poll_seconds is not None and profile.poll_seconds < floor:
        errors["poll_seconds"] = [
            f"At least {floor} seconds: the Upwork API's rate limit (UPWORK_API_DAILY_LIMIT="
            f"{settings.UPWORK_API_DAILY_LIMIT} requests a day, WATCH_API_SHARE={settings.WATCH_API_SHARE:g} of it for "
            f"watching, {searches_per_poll(profile)} search(es) per poll) allows no faster polling."
        ]
    if profile.watch and profile.source == SourceKind.BROWSER:
        errors["watch"] = [
            "A browser-source profile cannot watch: the browser keeps a slow, human pace. "
            "Set the source to 'api' (or 'auto' with the Upwork API connected) to watch."
        ]
    if profile.auto_draft and not profile.watch:
        errors["auto_draft"] = ["Auto-draft belongs to watching: switch watch on too, or leave auto_draft off."]
    return errors


# --- Notifications (the notifications app, when installed) -----------------------------------------------


def _notifications():
    """notifications.services, or None when the app is not installed (then alerts are only logged)."""
    if not apps.is_installed("notifications"):
        return None
    from notifications import services

    return services


def _publish_watch_stopped(profile: SearchProfile, reason: str, stopped_at: datetime) -> None:
    notify = _notifications()
    if notify is None:
        logger.warning("Watching of profile %s stopped (%s); notifications are not installed", profile.id, reason)
        return
    notify.notification_publish(
        event=WATCH_STOPPED_EVENT,  # notifications.models.Event.WATCH_STOPPED
        key=f"watch_stopped:{profile.id}:{int(stopped_at.timestamp())}",
        subject=f"Watching stopped: {profile.name}",
        payload={
            "facts": [("Profile", profile.name), ("Reason", reason)],
            "lines": ["Fix the cause, then switch watch on again for this search profile."],
            "profile_id": profile.id,
            "reason": reason,
        },
    )


# --- Writes ------------------------------------------------------------------------------------------------


def watch_stop(*, profile_id: int, reason: str) -> bool:
    """Stop watching (conditional: only a watching profile stops, so the alert goes out once). True if it stopped."""
    now = timezone.now()
    with transaction.atomic():
        stopped = SearchProfile.objects.filter(id=profile_id, watch=True).update(
            watch=False, watch_started_at=None, watch_stopped_at=now, watch_stopped_reason=reason
        )
        if stopped:
            profile = SearchProfile.objects.get(id=profile_id)
            _publish_watch_stopped(profile, reason, now)
    if stopped:
        logger.warning("Watching of profile %s stopped: %s", profile_id, reason)
    return bool(stopped)


def _record_error(profile: SearchProfile, error: SourceError) -> dict:
    from django.db.models import F

    SearchProfile.objects.filter(id=profile.id, watch=True).update(watch_error_count=F("watch_error_count") + 1)
    count = SearchProfile.objects.filter(id=profile.id).values_list("watch_error_count", flat=True).first() or 0
    limit = settings.WATCH_MAX_CONSECUTIVE_ERRORS
    stopped = False
    if count >= limit:
        stopped = watch_stop(
            profile_id=profile.id, reason=f"{count} polls in a row failed; the last said: {error.message}"
        )
    logger.warning("Watch poll of profile %s failed (%d in a row): %s", profile.id, count, error.message)
    return {"outcome": "error", "message": error.message, "errors_in_a_row": count, "stopped": stopped}


def _claim_unseen(profile: SearchProfile, records: list[JobRecord], *, watch_started_at: datetime | None) -> set[str]:
    """Add the records to the profile's seen-set; return the Upwork ids that were not in it (and should alert).

    One INSERT … ON CONFLICT DO NOTHING RETURNING: two overlapping polls cannot both claim a posting.
    """
    if not records:
        return set()
    now = timezone.now()
    ids, alerted = [], []
    for record in records:
        ids.append(record.upwork_id)
        posted = record.posted_at
        alerted.append(not (watch_started_at is not None and posted is not None and posted < watch_started_at))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WatchSeen._meta.db_table} (profile_id, upwork_id, seen_at, alerted) "  # noqa: S608
            "SELECT %s, u.upwork_id, %s, u.alerted FROM unnest(%s::text[], %s::boolean[]) AS u(upwork_id, alerted) "
            "ON CONFLICT (profile_id, upwork_id) DO NOTHING RETURNING upwork_id, alerted",
            [profile.id, now, ids, alerted],
        )
        return {upwork_id for upwork_id, was_alerted in cursor.fetchall() if was_alerted}


def watch_poll(*, profile_id: int, slot: int | None = None, task_id: str = "") -> dict:
    """One poll: read the first page of each search, process only postings never seen, enqueue their fast path."""
    from jobs.services.records import jobs_evaluate, jobs_upsert
    from jobs.services.searches import search_run, specs_for_profile
    from queue_app.services import task_enqueue

    profile = SearchProfile.objects.filter(id=profile_id).first()
    if profile is None or not profile.watch or not profile.enabled:
        return {"skipped": "profile gone, disabled or not watching"}
    if slot is not None and time.time() - slot > max(2 * profile.poll_seconds, TICK_HORIZON_SECONDS):
        return {"skipped": f"slot {slot} is stale (the queue was behind); the next slot polls"}
    specs = [replace(spec, max_pages=1) for spec in specs_for_profile(profile)]
    if not specs:
        watch_stop(profile_id=profile.id, reason="The profile runs no searches: add keywords, skills or searches.")
        return {"outcome": "stopped", "reason": "no searches"}
    try:
        run = search_run(specs=specs, source=SourceKind.API)
    except (ApiAuthError, NoUsableSession) as error:
        # An expired or revoked token (a refresh did not help), or no API connection: polling again cannot help.
        reason = f"The Upwork API token is expired, revoked or missing: {error.message}"
        stopped = watch_stop(profile_id=profile.id, reason=reason)
        return {"outcome": "stopped", "reason": reason, "stopped": stopped}
    except SourceError as error:
        return _record_error(profile, error)
    fast = []
    with transaction.atomic():
        new_ids = _claim_unseen(profile, run.records, watch_started_at=profile.watch_started_at)
        fresh = [record for record in run.records if record.upwork_id in new_ids]
        if fresh:
            outcome = jobs_upsert(records=fresh, profile=profile)
            jobs_evaluate(profile=profile, job_ids=outcome.job_ids)
            for job_id in Job.objects.filter(id__in=outcome.job_ids, passed_filters=True).values_list("id", flat=True):
                task = task_enqueue(
                    task_type="watch_fast_path",
                    payload={"profile_id": profile.id, "job_id": job_id},
                    idempotency_key=f"watch_fast_path:{profile.id}:{job_id}",
                )
                fast.append(str(task.id))
        SearchProfile.objects.filter(id=profile.id).update(watch_last_poll_at=timezone.now(), watch_error_count=0)
    if fresh:
        logger.info("Watch poll of profile %s (task %s): %d new posting(s)", profile.id, task_id, len(fresh))
    return {"profile_id": profile.id, "seen": len(run.records), "new": len(fresh), "fast_path": fast}


def watch_fast_path(*, profile_id: int, job_id: int, task_id: str = "") -> dict:
    """A new posting's fast path (critical priority): the alert now; with auto_draft, a watch_draft task (high).

    The alert never waits for the draft, and no draft holds the critical lane: an OpenAI draft takes seconds to
    tens of seconds, and other postings' alerts must not queue behind it. The draft sends "draft ready" itself.
    """
    from queue_app.services import task_enqueue

    job = Job.objects.filter(id=job_id).first()
    profile = SearchProfile.objects.filter(id=profile_id).first()
    if job is None or profile is None:
        return {"skipped": "job or profile gone"}
    notify = _notifications()
    result: dict = {"job_id": job.id, "score": job.score, "alerted": notify is not None}
    if notify is not None:
        result["alert_deliveries"] = notify.notify_job_alert(job)
    else:
        logger.info("Job %s (score %s) would alert; notifications are not installed", job.id, job.score)
    if profile.auto_draft and job.passed_filters and (job.score or 0) >= profile.handoff_min_score:
        task = task_enqueue(
            task_type="watch_draft",
            payload={"profile_id": profile.id, "job_id": job.id},
            idempotency_key=f"watch_draft:{job.id}",
        )
        result["draft_task"] = str(task.id)
    return result


def watch_draft(*, profile_id: int, job_id: int, task_id: str = "") -> dict:
    """Draft the proposal for a watched job with the configured drafter, then send "draft ready"."""
    from core.errors import ApplicationError, PermanentTaskError
    from queue_app import registry

    job = Job.objects.filter(id=job_id).first()
    if job is None:
        return {"skipped": "job gone"}
    if "generate_proposal" not in registry.all_types():
        return {"draft": "Proposal drafting is not installed."}
    from proposals.services import proposal_generate

    try:
        proposal = proposal_generate(job_id=job.id, task_id=task_id)
    except (ApplicationError, PermanentTaskError) as error:
        # No freelancer profile, the cost cap: the alert went out; the draft waits for a person.
        message = f"Not drafted: {getattr(error, 'message', None) or error}"
        logger.info("Task %s: job %s not drafted: %s", task_id, job.id, message)
        return {"draft": message}
    result: dict = {"job_id": job.id, "proposal_id": proposal.id}
    notify = _notifications()
    if notify is not None:
        result["draft_ready_deliveries"] = notify.notify_draft_ready(proposal)
    return result


def watch_tick(*, now: float | None = None) -> dict:
    """Enqueue the polls of the coming minute for every watching profile, one per poll_seconds slot; prune seen rows.

    A slot is a multiple of the profile's poll interval (epoch seconds); its task runs at that moment and its
    idempotency key `watch_poll:<profile>:<slot>` makes a slot planned by two ticks one task.
    """
    from queue_app.services import EnqueueRequest, task_enqueue_many

    now = time.time() if now is None else now
    requests = []
    for profile in SearchProfile.objects.filter(watch=True, enabled=True):
        interval = max(profile.poll_seconds, watch_poll_floor(profile=profile))
        slot = int(now // interval) * interval
        while slot < now + TICK_HORIZON_SECONDS:
            requests.append(
                EnqueueRequest(
                    task_type="watch_poll",
                    payload={"profile_id": profile.id, "slot": slot},
                    run_at=datetime.fromtimestamp(slot, UTC) if slot > now else None,
                    idempotency_key=f"watch_poll:{profile.id}:{slot}",
                )
            )
            slot += interval
    tasks = task_enqueue_many(requests=requests) if requests else []
    cutoff = timezone.now() - timedelta(days=settings.WATCH_SEEN_RETENTION_DAYS)
    pruned, _ = WatchSeen.objects.filter(seen_at__lt=cutoff).delete()
    return {"planned": len(tasks), "pruned_seen": pruned}
