"""Task rows: the source of truth for every unit of background work."""

import uuid

from django.conf import settings
from django.db import models

from core.actor import Source


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # accepted in PostgreSQL, not (yet) in Redis
    SCHEDULED = "scheduled", "Scheduled"  # waiting for run_at
    QUEUED = "queued", "Queued"  # in an RQ queue
    PROCESSING = "processing", "Processing"
    RETRYING = "retrying", "Retrying"  # failed an attempt, waiting for backoff
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# Statuses from which a worker may start the task.
STARTABLE_STATUSES = (TaskStatus.PENDING, TaskStatus.SCHEDULED, TaskStatus.QUEUED, TaskStatus.RETRYING)
WAITING_STATUSES = STARTABLE_STATUSES
FINISHED_STATUSES = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)
CANCELLABLE_STATUSES = (*STARTABLE_STATUSES, TaskStatus.PROCESSING)
RETRYABLE_STATUSES = (TaskStatus.FAILED, TaskStatus.CANCELLED)


class TaskPriority(models.TextChoices):
    """One RQ queue per priority; workers drain them strictly in this order."""

    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    NORMAL = "normal", "Normal"
    LOW = "low", "Low"


# Where a task came from: the channel of the actor who enqueued it (core.actor.Source).
TaskSource = Source


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, help_text="Also the RQ job id.")
    task_type = models.CharField(max_length=100, help_text="A registered task type, e.g. job_discovery.")
    payload = models.JSONField(default=dict, blank=True)
    priority = models.CharField(max_length=10, choices=TaskPriority.choices, default=TaskPriority.NORMAL)
    status = models.CharField(max_length=12, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts started so far.")
    max_retries = models.PositiveIntegerField(default=3, help_text="Retries allowed after the first attempt fails.")
    timeout = models.PositiveIntegerField(default=3600, help_text="Seconds one attempt may run.")
    run_at = models.DateTimeField(null=True, blank=True, help_text="Earliest start for a delayed or retried task.")
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds the last attempt ran.")
    worker_name = models.CharField(max_length=200, blank=True, default="")
    error_type = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_traceback = models.TextField(blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    wait_reason = models.CharField(
        max_length=300, blank=True, default="", help_text="Why a waiting task has not started, e.g. a limit."
    )
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    source = models.CharField(max_length=10, choices=TaskSource.choices, default=TaskSource.SYSTEM)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="task_idempotency_key_uniq",
            ),
        ]
        indexes = [
            # Task list: newest first, optionally filtered by status or type.
            models.Index(fields=["-created_at"], name="task_created_idx"),
            models.Index(fields=["status", "-created_at"], name="task_status_created_idx"),
            models.Index(fields=["task_type", "-created_at"], name="task_type_created_idx"),
            # Stats and cleanup: finished tasks by type and finish time.
            models.Index(fields=["task_type", "status", "finished_at"], name="task_type_status_fin_idx"),
            models.Index(fields=["finished_at"], name="task_finished_idx"),
            # Reconcile and the crash sweep only look at unfinished rows.
            models.Index(
                fields=["status", "run_at"],
                name="task_waiting_idx",
                condition=models.Q(status__in=["pending", "scheduled", "queued", "retrying", "processing"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_type} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class MetricSnapshot(models.Model):
    """Figures of one hour of finished tasks of one type; task_type "" is the bucket's total over all types.

    Written by the calculate_metrics task (an upsert, so recomputing a bucket is harmless). The
    all-types row exists for every computed hour, even an empty one, so it also marks which hours
    are covered: history and lifetime counters read snapshots up to there and task rows after.
    """

    ALL_TYPES = ""

    bucket_start = models.DateTimeField(help_text="Start of the hour (UTC) the figures cover.")
    task_type = models.CharField(max_length=100, blank=True, help_text="Task type; empty for all types together.")
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0, help_text="Attempts beyond the first of the tasks finished.")
    created = models.PositiveIntegerField(default=0, help_text="Tasks created in the hour.")
    duration_count = models.PositiveIntegerField(default=0, help_text="Finished tasks with a recorded duration.")
    duration_sum = models.FloatField(default=0.0, help_text="Seconds, summed over duration_count tasks.")
    duration_avg = models.FloatField(null=True, blank=True)
    duration_p50 = models.FloatField(null=True, blank=True)
    duration_p95 = models.FloatField(null=True, blank=True)
    duration_max = models.FloatField(null=True, blank=True)
    duration_histogram = models.JSONField(
        default=dict, blank=True, help_text="Cumulative counts of durations <= each bound in seconds."
    )
    queue_depth = models.PositiveIntegerField(default=0, help_text="Tasks waiting to start at the end of the hour.")
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-bucket_start", "task_type"]
        constraints = [
            models.UniqueConstraint(fields=["bucket_start", "task_type"], name="metric_snapshot_bucket_type_uniq"),
        ]
        indexes = [
            # History of one type over a window (the uniq index serves the all-types reads).
            models.Index(fields=["task_type", "bucket_start"], name="metric_snapshot_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task_type or 'all types'} @ {self.bucket_start:%Y-%m-%d %H:00}"

    @property
    def finished(self) -> int:
        return self.completed + self.failed + self.cancelled


def default_schedule_timezone() -> str:
    """A new schedule's time zone: SCHEDULER_TIMEZONE (itself TIME_ZONE unless set), read when called."""
    return settings.SCHEDULER_TIMEZONE


class ScheduledTask(models.Model):
    """A recurring task: a cron expression in a time zone, fired by the rqscheduler process.

    Rows are changed only through queue_app.scheduling (which validates cron, time zone, task
    type and payload); the scheduler syncs them to its rq-scheduler cron jobs every cycle.
    """

    name = models.CharField(
        max_length=100, help_text="Unique name: letters, digits, '_', '-' and '.', e.g. daily_discovery."
    )
    cron_expression = models.CharField(
        max_length=100,
        help_text="Five fields: minute hour day-of-month month day-of-week, e.g. '*/30 9-16 * * 1-5'.",
    )
    task_type = models.CharField(max_length=100, help_text="A registered task type, e.g. job_discovery.")
    payload = models.JSONField(default=dict, blank=True, help_text="The task's payload, a JSON object.")
    priority = models.CharField(
        max_length=10,
        choices=TaskPriority.choices,
        blank=True,
        default="",
        help_text="Priority of the tasks it creates; empty means the task type's default.",
    )
    enabled = models.BooleanField(default=True, help_text="Disabled schedules never fire.")
    timezone = models.CharField(
        max_length=64,
        default=default_schedule_timezone,
        help_text="IANA time zone the cron expression is read in, e.g. Europe/Berlin.",
    )
    description = models.TextField(blank=True, default="")
    last_run_at = models.DateTimeField(null=True, blank=True, help_text="Firing time of the last run.")
    last_task = models.ForeignKey(
        Task,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The task the last run created.",
    )
    next_run_at = models.DateTimeField(null=True, blank=True, help_text="When it fires next (empty when disabled).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name"], name="scheduled_task_name_uniq"),
            models.CheckConstraint(condition=~models.Q(name=""), name="scheduled_task_name_not_empty"),
            models.CheckConstraint(condition=~models.Q(cron_expression=""), name="scheduled_task_cron_not_empty"),
            models.CheckConstraint(
                condition=models.Q(priority__in=["", *TaskPriority.values]), name="scheduled_task_priority_valid"
            ),
        ]
        indexes = [
            # The scheduler's sync reads the enabled schedules every cycle.
            models.Index(fields=["next_run_at"], name="scheduled_task_enabled_idx", condition=models.Q(enabled=True)),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cron_expression} {self.timezone})"


class WorkerState(models.TextChoices):
    STARTED = "started", "Started"
    IDLE = "idle", "Idle"
    BUSY = "busy", "Busy"
    STOPPED = "stopped", "Stopped"


class WorkerProcess(models.Model):
    """A worker process's heartbeat in PostgreSQL: survives a Redis flush, so crash recovery can trust it."""

    name = models.CharField(max_length=200, help_text="The RQ worker name (also Task.worker_name).")
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    queues = models.JSONField(default=list, help_text="Queue names the worker serves, in priority order.")
    worker_class = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=10, choices=WorkerState.choices, default=WorkerState.STARTED)
    current_task_id = models.UUIDField(null=True, blank=True)
    started_at = models.DateTimeField()
    last_heartbeat = models.DateTimeField(help_text="A worker silent for WORKER_STALE_SECONDS counts as dead.")
    stopped_at = models.DateTimeField(null=True, blank=True)
    tasks_done = models.PositiveIntegerField(default=0)
    tasks_failed = models.PositiveIntegerField(default=0)
    rss_bytes = models.BigIntegerField(null=True, blank=True, help_text="Resident memory at the last heartbeat.")
    cpu_seconds = models.FloatField(null=True, blank=True, help_text="CPU time used, including work horses.")

    class Meta:
        verbose_name_plural = "worker processes"
        ordering = ["-last_heartbeat"]
        constraints = [models.UniqueConstraint(fields=["name"], name="worker_process_name_uniq")]
        indexes = [
            # Crash sweep and worker lists: live workers by heartbeat.
            models.Index(
                fields=["last_heartbeat"], name="worker_process_live_idx", condition=models.Q(stopped_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.pid})"


class Switch(models.Model):
    """A runtime switch an operator changes in the admin without a restart; workers read it at task time.

    Which switches exist is declared by the domain apps (queue_app.switches.switch_declare in their
    AppConfig.ready()); a row holds only the operator's override. An empty value means "the environment's
    default" (the setting named in the description). Changed only through queue_app.switches.switch_set (audited).
    """

    key = models.CharField(max_length=100, help_text="e.g. applications.enabled; declared by a domain app.")
    value = models.CharField(
        max_length=100,
        blank=True,
        help_text="The operator's value (true/false or a number); empty = use the environment's default.",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["key"], name="queue_app_switch_key_unique")]

    def __str__(self) -> str:
        return self.key
