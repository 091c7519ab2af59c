"""Task admin: read-only rows, readable payload/result/traceback, actions that call services."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from queue_app import registry, services
from queue_app.errors import ApplicationError
from queue_app.models import Task, TaskSource


def _pretty_json(value) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, default=str))


class TaskTypeFilter(admin.SimpleListFilter):
    """Task types from the registry: no DISTINCT over the whole table on every page view."""

    title = "task type"
    parameter_name = "task_type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in sorted(registry.all_types())]

    def queryset(self, request, queryset):
        return queryset.filter(task_type=self.value()) if self.value() else queryset


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["short_id", "task_type", "status", "priority", "attempts", "source", "created_at", "duration_s"]
    list_filter = ["status", TaskTypeFilter, "priority", "source"]
    search_fields = ["=id", "task_type", "=idempotency_key"]
    list_select_related = ["requested_by"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    actions = ["cancel_tasks", "retry_tasks"]
    show_full_result_count = False  # no full-table count on every page view
    readonly_fields = [
        "id",
        "task_type",
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
        "idempotency_key",
        "source",
        "requested_by",
        "payload_pretty",
        "result_pretty",
        "error_type",
        "error_message",
        "traceback_pretty",
    ]
    fieldsets = [
        (None, {"fields": ["id", "task_type", "priority", "status", "source", "requested_by", "idempotency_key"]}),
        ("Attempts", {"fields": ["attempts", "max_retries", "timeout", "worker_name"]}),
        ("Times", {"fields": ["created_at", "run_at", "enqueued_at", "started_at", "finished_at", "duration"]}),
        ("Data", {"fields": ["payload_pretty", "result_pretty"]}),
        ("Last error", {"fields": ["error_type", "error_message", "traceback_pretty"]}),
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="ID", ordering="id")
    def short_id(self, obj):
        return str(obj.id)[:8]

    @admin.display(description="Duration (s)", ordering="duration")
    def duration_s(self, obj):
        return None if obj.duration is None else round(obj.duration, 3)

    @admin.display(description="Payload")
    def payload_pretty(self, obj):
        return _pretty_json(obj.payload)

    @admin.display(description="Result")
    def result_pretty(self, obj):
        return _pretty_json(obj.result)

    @admin.display(description="Traceback")
    def traceback_pretty(self, obj):
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.error_traceback or "—")

    def _apply(self, request, queryset, service, verb):
        done, refused = 0, []
        for task in queryset:
            try:
                service(task_id=task.id, source=TaskSource.ADMIN, user=request.user)
                done += 1
            except ApplicationError as error:
                refused.append(error.message)
        if done:
            self.message_user(request, f"{verb} {done} task(s).", messages.SUCCESS)
        for message in refused[:10]:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description="Cancel selected tasks")
    def cancel_tasks(self, request, queryset):
        self._apply(request, queryset, services.task_cancel, "Cancelled")

    @admin.action(description="Retry selected tasks")
    def retry_tasks(self, request, queryset):
        self._apply(request, queryset, services.task_retry, "Retried")
