"""App config: the queue's own family, task types and default schedules; the domain apps declare theirs."""

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

        from queue_app import registry, rq_adapter, tasks

        rq_adapter.install()
        post_migrate.connect(_ensure_switches, sender=self)

        # Families: each has its own queues (one per priority) and limits across all workers. The domain
        # apps declare theirs, with their task types, default schedules and health checks, in their ready().
        registry.register_family("system", description="Queue upkeep: cleanup, metrics, probes.")
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

        registry.register_default_schedule(
            "system_cleanup",
            task_type="cleanup_tasks",
            cron_expression="0 2 * * *",
            description="Delete old finished tasks daily at 02:00.",
        )
        registry.register_default_schedule(
            "metrics_calculation",
            task_type="calculate_metrics",
            cron_expression="0 6 * * 1",
            description="Weekly metrics calculation, Mondays at 06:00.",
        )
        # History and lifetime counts read the snapshots up to the last run: keep them an hour fresh.
        registry.register_default_schedule(
            "metrics_snapshots",
            task_type="calculate_metrics",
            cron_expression="5 * * * *",
            description="Hourly metric snapshots.",
        )
