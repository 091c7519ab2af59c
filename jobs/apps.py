"""App config: registers the job discovery task types."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Job discovery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jobs import tasks
        from queue_app import registry, switches

        switches.switch_declare(
            key="discovery.scheduled",
            kind=switches.BOOL,
            setting="DISCOVERY_SCHEDULED_ENABLED",
            description="Off = job_discovery tasks fired by a schedule do nothing (manual runs still work).",
        )

        registry.register(
            "job_discovery",
            tasks.job_discovery,
            payload_serializer=tasks.JobDiscoveryPayload,
            priority="normal",
            timeout=1800,
            description="A profile's full discovery: every strategy in parallel, merge, store, filter, rank, "
            "optional hand-off to proposals. Without profile_id: one task per enabled profile.",
        )
        registry.register(
            "job_search",
            tasks.job_search,
            payload_serializer=tasks.JobSearchPayload,
            priority="normal",
            timeout=900,
            description="One search (query, skills or category) on the API or the browser session; stores results.",
        )
        registry.register(
            "job_filtering",
            tasks.job_filtering,
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
