"""App config: registers the queue's own task types."""

from django.apps import AppConfig


class QueueAppConfig(AppConfig):
    name = "queue_app"
    verbose_name = "Task queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from queue_app import registry, tasks

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
