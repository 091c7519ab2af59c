"""App config: the discovery family and its limits, task types, default schedules and the browser health check."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Job discovery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from jobs import tasks
        from jobs.health import browser_alerts
        from queue_app import health, registry, switches

        switches.switch_declare(
            key="discovery.scheduled",
            kind=switches.BOOL,
            setting="DISCOVERY_SCHEDULED_ENABLED",
            description="Off = job_discovery tasks fired by a schedule do nothing (manual runs still work).",
        )

        registry.register_family(
            "discovery",
            limits=registry.Limits(per_host_concurrency=settings.DISCOVERY_PER_HOST_CONCURRENCY),
            description="Job search with a browser: one Chromium per task, so few per host.",
            probe=True,
        )
        registry.register(
            "job_discovery",
            tasks.job_discovery,
            family="discovery",
            payload_serializer=tasks.JobDiscoveryPayload,
            priority="normal",
            timeout=1800,
            description="A profile's full discovery: every strategy in parallel, merge, store, filter, rank, "
            "optional hand-off to proposals. Without profile_id: one task per enabled profile.",
        )
        registry.register(
            "job_search",
            tasks.job_search,
            family="discovery",
            payload_serializer=tasks.JobSearchPayload,
            priority="normal",
            timeout=900,
            description="One search (query, skills or category) on the API or the browser session; stores results.",
        )
        registry.register(
            "job_filtering",
            tasks.job_filtering,
            family="discovery",
            payload_serializer=tasks.JobFilteringPayload,
            priority="low",
            timeout=900,
            description="Re-apply a profile's filters and score weights to stored jobs (e.g. after weights change).",
        )
        registry.register(
            "cleanup_browser_sessions",
            tasks.cleanup_browser_sessions,
            payload_serializer=tasks.CleanupBrowserSessionsPayload,
            priority="low",
            timeout=300,
            description="Expire browser sessions past their expiry, purge old ones, stop stray browser processes.",
        )
        registry.register_default_schedule(
            "job_discovery",
            task_type="job_discovery",
            cron_expression="*/30 {hours} * * {days}",
            description="Job discovery every 30 minutes during business hours on business days.",
            business_hours=True,
        )
        # Watching (jobs/services/watching.py): its own queues, so a long browser discovery never delays a poll.
        registry.register_family(
            "watch", description="Speed to lead: polls of the official API and the fast path of new postings."
        )
        registry.register(
            "watch_tick",
            tasks.watch_tick,
            family="watch",
            payload_serializer=tasks.WatchTickPayload,
            priority="high",
            timeout=60,
            max_retries=0,
            description="Plan the next minute's watch_poll tasks, one per poll_seconds slot of each watching profile.",
        )
        registry.register(
            "watch_poll",
            tasks.watch_poll,
            family="watch",
            payload_serializer=tasks.WatchPollPayload,
            priority="high",
            timeout=60,
            max_retries=0,  # the next slot is the retry; repeated failures stop watching
            description="One poll of a watching profile's searches on the API; new postings go to watch_fast_path.",
        )
        registry.register(
            "watch_fast_path",
            tasks.watch_fast_path,
            family="watch",
            payload_serializer=tasks.WatchFastPathPayload,
            priority="critical",
            timeout=600,
            description="A new posting's alert; with auto_draft, a watch_draft task for its proposal.",
        )
        registry.register(
            "watch_draft",
            tasks.watch_draft,
            family="watch",
            payload_serializer=tasks.WatchFastPathPayload,
            priority="high",
            timeout=600,
            description="Draft a watched job's proposal with the configured drafter, then send 'draft ready'.",
        )
        registry.register_default_schedule(
            "watch_tick",
            task_type="watch_tick",
            cron_expression="* * * * *",
            description="Plan the polls of watching search profiles for the coming minute.",
        )
        registry.register_default_schedule(
            "browser_session_cleanup",
            task_type="cleanup_browser_sessions",
            cron_expression="0 */4 * * *",
            description="Close stale browser sessions every 4 hours.",
        )
        health.register_check(browser_alerts, penalties={"browser_unavailable": 10})
