"""Queue entry points for job discovery: validate the payload, call a service, report the outcome."""

from __future__ import annotations

import logging

from rest_framework import serializers

from jobs import services
from jobs.errors import DiscoveryBlocked, NeedsAttention, SourceError
from jobs.models import SearchProfile, SourceKind, Strategy
from jobs.sources.base import SearchSpec
from queue_app.registry import TaskContext

logger = logging.getLogger(__name__)


class JobDiscoveryPayload(serializers.Serializer):
    profile_id = serializers.IntegerField(
        required=False, min_value=1, help_text="The profile to run; omit to run every enabled profile."
    )
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=500), max_length=200, required=False, help_text="Ad-hoc keywords."
    )
    skills = serializers.ListField(
        child=serializers.CharField(max_length=500), max_length=200, required=False, help_text="Ad-hoc skills."
    )
    source = serializers.ChoiceField(choices=SourceKind.choices, required=False, default=SourceKind.AUTO)


class JobSearchPayload(serializers.Serializer):
    query = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    skills = serializers.ListField(
        child=serializers.CharField(max_length=500), max_length=200, required=False, default=list
    )
    category = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    source = serializers.ChoiceField(choices=SourceKind.choices, required=False, default=SourceKind.AUTO)
    max_pages = serializers.IntegerField(required=False, min_value=1, max_value=20, allow_null=True, default=None)
    profile_id = serializers.IntegerField(required=False, min_value=1, allow_null=True, default=None)

    def validate(self, attrs):
        if not (attrs.get("query") or attrs.get("skills") or attrs.get("category")):
            raise serializers.ValidationError({"query": ["Give a query, skills or a category."]})
        return attrs


class JobFilteringPayload(serializers.Serializer):
    profile_id = serializers.IntegerField(required=False, min_value=1, help_text="Omit to re-score for every profile.")
    job_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    statuses = serializers.ListField(child=serializers.CharField(max_length=50), max_length=20, required=False)


class WatchTickPayload(serializers.Serializer):
    pass


class WatchPollPayload(serializers.Serializer):
    profile_id = serializers.IntegerField(min_value=1)
    slot = serializers.IntegerField(required=False, allow_null=True, default=None, help_text="Epoch seconds planned.")


class WatchFastPathPayload(serializers.Serializer):
    profile_id = serializers.IntegerField(min_value=1)
    job_id = serializers.IntegerField(min_value=1)


class CleanupBrowserSessionsPayload(serializers.Serializer):
    purge_days = serializers.IntegerField(required=False, min_value=0, allow_null=True, default=None)
    browser_max_age = serializers.IntegerField(required=False, min_value=0, allow_null=True, default=None)


def _stopped(error: SourceError, context: TaskContext) -> dict:
    """Retrying cannot help: a wall fails the task at once (DiscoveryBlocked); no connection finishes, saying why."""
    if isinstance(error, NeedsAttention):
        logger.warning("Task %s stopped by a wall (%s) at %s", context.task_id, error.reason, error.url)
        raise DiscoveryBlocked(error, task_id=context.task_id) from error
    logger.warning("Task %s stopped: %s (%s)", context.task_id, error.message, error.code)
    return {
        "outcome": "needs_attention",
        "code": error.code,
        "reason": getattr(error, "reason", error.code),
        "message": error.message,
        "saved_before_stop": getattr(error, "saved", 0),
    }


def _scheduled_discovery_off(context: TaskContext) -> bool:
    """The operator switched scheduled discovery off (runtime switch discovery.scheduled) and a schedule fired this."""
    from queue_app.models import Task, TaskSource
    from queue_app.switches import switch_value

    if switch_value("discovery.scheduled"):
        return False
    return Task.objects.filter(id=context.task_id, source=TaskSource.SCHEDULER).exists()


def job_discovery(payload: dict, context: TaskContext) -> dict:
    if _scheduled_discovery_off(context):
        logger.info(
            "Task %s: scheduled discovery is switched off (discovery.scheduled); nothing searched", context.task_id
        )
        return {"skipped": "Scheduled discovery is switched off (runtime switch discovery.scheduled)."}
    profile_id = payload.get("profile_id")
    if profile_id is None and (payload.get("keywords") or payload.get("skills")):
        specs = [SearchSpec(strategy=Strategy.KEYWORDS, query=k) for k in payload.get("keywords") or []]
        if payload.get("skills"):
            specs.append(SearchSpec(strategy=Strategy.SKILLS, skills=tuple(payload["skills"])))
        try:
            run = services.search_run(specs=specs, source=payload.get("source") or SourceKind.AUTO)
        except SourceError as error:
            if error.retryable:
                raise
            return _stopped(error, context)
        outcome = services.jobs_upsert(records=run.records)
        return {"source": run.source, "unique": len(run.records), "created": len(outcome.created)}
    if profile_id is None:
        from queue_app.services import task_enqueue

        enqueued = []
        for profile in SearchProfile.objects.filter(enabled=True).only("id"):
            task = task_enqueue(
                task_type="job_discovery",
                payload={"profile_id": profile.id},
                idempotency_key=f"job_discovery:{context.task_id}:{profile.id}",
            )
            enqueued.append(str(task.id))
        return {"fanned_out": enqueued}
    try:
        return services.discovery_run(profile_id=profile_id, task_id=context.task_id)
    except SourceError as error:
        if error.retryable:
            raise
        return _stopped(error, context)


def job_search(payload: dict, context: TaskContext) -> dict:
    profile = None
    if payload.get("profile_id"):
        profile = SearchProfile.objects.filter(id=payload["profile_id"]).first()
        if profile is None:
            return {"skipped": f"profile {payload['profile_id']} is gone"}
    spec = SearchSpec(
        strategy="search",
        query=payload.get("query") or "",
        skills=tuple(payload.get("skills") or ()),
        category=payload.get("category") or "",
        max_pages=payload.get("max_pages"),
    )
    try:
        return services.job_search_run(spec=spec, source=payload.get("source") or SourceKind.AUTO, profile=profile)
    except SourceError as error:
        if error.retryable:
            raise
        return _stopped(error, context)


def job_filtering(payload: dict, context: TaskContext) -> dict:
    profiles = SearchProfile.objects.all()
    if payload.get("profile_id"):
        profiles = profiles.filter(id=payload["profile_id"])
    totals: dict[str, int] = {"profiles": 0, "evaluated": 0, "passed": 0, "filtered_out": 0}
    for profile in profiles:
        counts = services.jobs_evaluate(
            profile=profile, job_ids=payload.get("job_ids"), statuses=payload.get("statuses") or None
        )
        totals["profiles"] += 1
        for key, value in counts.items():
            totals[key] += value
    return totals


def cleanup_browser_sessions(payload: dict, context: TaskContext) -> dict:
    return services.browser_sessions_cleanup(
        purge_days=payload.get("purge_days"), browser_max_age=payload.get("browser_max_age")
    )


def watch_tick(payload: dict, context: TaskContext) -> dict:
    from jobs.services.watching import watch_tick as plan

    return plan()


def watch_poll(payload: dict, context: TaskContext) -> dict:
    from jobs.services.watching import watch_poll as poll

    return poll(profile_id=payload["profile_id"], slot=payload.get("slot"), task_id=context.task_id)


def watch_fast_path(payload: dict, context: TaskContext) -> dict:
    from jobs.services.watching import watch_fast_path as fast_path

    return fast_path(profile_id=payload["profile_id"], job_id=payload["job_id"], task_id=context.task_id)


def watch_draft(payload: dict, context: TaskContext) -> dict:
    from jobs.services.watching import watch_draft as draft

    return draft(profile_id=payload["profile_id"], job_id=payload["job_id"], task_id=context.task_id)
