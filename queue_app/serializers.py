"""DRF shapes for tasks."""

from rest_framework import serializers

from core.models import AuditEntry
from core.parsers import DepthLimitedJSONField
from queue_app.models import ScheduledTask, Task, TaskPriority, WorkerProcess


class TaskSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "task_type",
            "payload",
            "priority",
            "status",
            "attempts",
            "max_retries",
            "timeout",
            "run_at",
            "created_at",
            "enqueued_at",
            "started_at",
            "finished_at",
            "duration",
            "worker_name",
            "error_type",
            "error_message",
            "error_traceback",
            "result",
            "idempotency_key",
            "source",
            "requested_by",
        ]
        read_only_fields = fields


class TaskEnqueueSerializer(serializers.Serializer):
    task_type = serializers.CharField(max_length=100)
    payload = DepthLimitedJSONField(required=False, default=dict)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    delay = serializers.FloatField(required=False, min_value=0, max_value=366 * 24 * 3600)  # a year at most
    run_at = serializers.DateTimeField(required=False)
    idempotency_key = serializers.CharField(required=False, max_length=255, allow_blank=False)
    max_retries = serializers.IntegerField(required=False, min_value=0, max_value=100)
    timeout = serializers.IntegerField(required=False, min_value=1, max_value=7 * 24 * 3600)

    def validate_payload(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        return value

    def validate(self, attrs):
        if "delay" in attrs and "run_at" in attrs:
            raise serializers.ValidationError({"delay": ["Give either delay or run_at, not both."]})
        return attrs


class ScheduledTaskSerializer(serializers.ModelSerializer):
    # Empty means the task type's default; declared so the schema's enum admits "".
    priority = serializers.ChoiceField(choices=TaskPriority.choices, allow_blank=True, read_only=True)

    class Meta:
        model = ScheduledTask
        fields = [
            "id",
            "name",
            "cron_expression",
            "task_type",
            "payload",
            "priority",
            "enabled",
            "timezone",
            "description",
            "last_run_at",
            "last_task",
            "next_run_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ScheduledTaskWriteSerializer(serializers.Serializer):
    """Input shape of a schedule; cron, time zone, task type and payload are checked by queue_app.scheduling."""

    name = serializers.CharField(max_length=100)
    cron_expression = serializers.CharField(max_length=100)
    task_type = serializers.CharField(max_length=100)
    payload = DepthLimitedJSONField(required=False, default=dict)
    priority = serializers.ChoiceField(
        choices=[("", "Task type default"), *TaskPriority.choices], required=False, allow_blank=True, default=""
    )
    timezone = serializers.CharField(max_length=64, required=False)
    description = serializers.CharField(max_length=2_000, required=False, allow_blank=True, default="")
    enabled = serializers.BooleanField(required=False, default=True)

    def validate_payload(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        return value


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "actor_name",
            "source",
            "action",
            "object_type",
            "object_id",
            "before",
            "after",
            "remote_addr",
        ]
        read_only_fields = fields


class WorkerProcessSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkerProcess
        fields = [
            "id",
            "name",
            "host",
            "pid",
            "queues",
            "worker_class",
            "state",
            "current_task_id",
            "started_at",
            "last_heartbeat",
            "stopped_at",
            "tasks_done",
            "tasks_failed",
            "rss_bytes",
            "cpu_seconds",
        ]
        read_only_fields = fields
