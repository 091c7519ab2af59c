"""App config: registers the queue's own task types."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_switches(**kwargs) -> None:
    """After migrate: a row for every declared runtime switch, so the admin lists them (like contenttypes)."""
    from queue_app.switches import switches_ensure

    switches_ensure()


class QueueAppConfig(AppConfig):
    name = "queue_app"
    verbose_name = "Task queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from queue_app import registry, rq_compat, tasks

        rq_compat.install()
        post_migrate.connect(_ensure_switches, sender=self)

        # Families: each has its own queues (one per priority) and limits across all workers.
        registry.register_family("system", description="Queue upkeep: cleanup, metrics, probes.")
        registry.register_family(
            "discovery",
            limits=registry.Limits(per_host_concurrency=settings.DISCOVERY_PER_HOST_CONCURRENCY),
            description="Job search with a browser: one Chromium per task, so few per host.",
        )
        registry.register_family(
            "proposals",
            limits=registry.Limits(rate=settings.OPENAI_RATE_LIMIT),
            description="OpenAI drafting: rate-limited and paid per token.",
        )
        registry.register_family(
            "applications",
            limits=registry.Limits(concurrency=settings.APPLICATIONS_CONCURRENCY),
            description="Submissions spend Connects: one at a time across all hosts.",
        )
        for name in settings.TASK_FAMILIES_EXTRA:
            registry.register_family(name)

        registry.register(
            "noop",
            tasks.noop,
            payload_serializer=tasks.NoopPayload,
            priority="normal",
            timeout=300,
            description="Does nothing; optional sleep_ms and fail_times. For benchmarks and health probes.",
        )
        for family in ("discovery", "proposals", "applications"):
            # A noop in each family: probes that family's workers and its limits.
            registry.register(
                f"noop_{family}",
                tasks.noop,
                payload_serializer=tasks.NoopPayload,
                family=family,
                timeout=300,
                description=f"Does nothing in the {family} family; a probe of that family's workers.",
            )
        registry.register(
            "cleanup_tasks",
            tasks.cleanup_tasks,
            payload_serializer=tasks.CleanupPayload,
            priority="low",
            description="Deletes finished tasks older than `days` days, in batches.",
        )
        from queue_app import metrics

        registry.register(
            "calculate_metrics",
            metrics.calculate_metrics,
            payload_serializer=metrics.CalculateMetricsPayload,
            priority="low",
            timeout=1800,
            description="Stores hourly metric snapshots per task type for the closed hours since the last run.",
        )
