"""Task admin: read-only rows, readable payload/result/traceback, actions that call services."""

import json

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from core.actor import Actor
from core.admin_scale import CreatedWithinFilter, EstimatedCountPaginator
from core.errors import ApplicationError
from core.parsers import JSONInputLimitsAdminMixin
from queue_app import registry, scheduling, services
from queue_app.models import MetricSnapshot, ScheduledTask, Task, WorkerProcess


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
    list_filter = ["status", TaskTypeFilter, "priority", "source", CreatedWithinFilter]
    search_fields = ["=id", "task_type", "=idempotency_key"]
    list_select_related = ["requested_by"]
    paginator = EstimatedCountPaginator  # no COUNT(*) over millions of rows per page view (admin_scale.py)
    list_per_page = 50  # rendering rows is most of the page's time (bench/monitoring_scale.py)
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

    def has_operate_permission(self, request) -> bool:
        """Cancel and retry: the operator role (its change_task permission) or a superuser."""
        return request.user.has_perm("queue_app.change_task")

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
                service(task_id=task.id, actor=Actor.admin(request))
                done += 1
            except ApplicationError as error:
                refused.append(error.message)
        if done:
            self.message_user(request, f"{verb} {done} task(s).", messages.SUCCESS)
        for message in refused[:10]:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description="Cancel selected tasks", permissions=["operate"])
    def cancel_tasks(self, request, queryset):
        self._apply(request, queryset, services.task_cancel, "Cancelled")

    @admin.action(description="Retry selected tasks", permissions=["operate"])
    def retry_tasks(self, request, queryset):
        self._apply(request, queryset, services.task_retry, "Retried")


class ScheduledTaskAdminForm(forms.ModelForm):
    """The schedule form: the same validation as the API and CLI (queue_app.scheduling.schedule_validate)."""

    class Meta:
        model = ScheduledTask
        fields = ["name", "enabled", "cron_expression", "timezone", "task_type", "payload", "priority", "description"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        # Like schedule_update: task type and payload are checked when new, changed or re-enabled.
        current = self.instance
        check_task = (
            current.pk is None
            or (cleaned.get("task_type"), cleaned.get("payload")) != (current.task_type, current.payload)
            or (bool(cleaned.get("enabled")) and not current.enabled)
        )
        try:
            scheduling.schedule_validate(
                scheduling.ScheduleFields(**{field: cleaned.get(field) for field in ScheduledTaskAdmin.editable}),
                check_task=check_task,
            )
        except ApplicationError as error:
            for field, field_messages in error.field_errors.items():
                target = field.split(".", 1)[0]
                target = target if target in self.fields else None
                prefix = f"{field}: " if target != field else ""
                self.add_error(target, [f"{prefix}{message}" for message in field_messages])
        return cleaned


@admin.register(ScheduledTask)
class ScheduledTaskAdmin(JSONInputLimitsAdminMixin, admin.ModelAdmin):
    editable = ["name", "cron_expression", "task_type", "payload", "priority", "timezone", "description", "enabled"]

    form = ScheduledTaskAdminForm
    list_display = [
        "name",
        "enabled",
        "cron_expression",
        "timezone",
        "task_type",
        "next_run_at",
        "last_run_at",
        "last_task_link",
    ]
    list_filter = ["enabled", "task_type", "priority", "timezone"]
    search_fields = ["name", "task_type", "description"]
    date_hierarchy = "created_at"
    list_select_related = ["last_task"]
    ordering = ["name"]
    actions = ["enable_schedules", "disable_schedules", "run_schedules_now"]
    readonly_fields = ["next_run_at", "last_run_at", "last_task_link", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "enabled", "description"]}),
        ("When", {"fields": ["cron_expression", "timezone", "next_run_at", "last_run_at", "last_task_link"]}),
        ("What", {"fields": ["task_type", "payload", "priority"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description="Last task")
    def last_task_link(self, obj):
        if obj.last_task_id is None:
            return "—"
        url = reverse("admin:queue_app_task_change", args=[obj.last_task_id])
        status = obj.last_task.status if obj.last_task else ""
        return format_html('<a href="{}">{}</a> {}', url, str(obj.last_task_id)[:8], status)

    def save_model(self, request, obj, form, change):
        values = {field: form.cleaned_data.get(field) for field in self.editable}
        if change:
            saved = scheduling.schedule_update(schedule_id=obj.pk, **values, actor=Actor.admin(request))
        else:
            saved = scheduling.schedule_create(**values, actor=Actor.admin(request))
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        scheduling.schedule_delete(schedule_id=obj.pk, actor=Actor.admin(request))

    def delete_queryset(self, request, queryset):
        for schedule in queryset:
            scheduling.schedule_delete(schedule_id=schedule.pk, actor=Actor.admin(request))

    def _apply(self, request, queryset, service, verb, **kwargs):
        done, refused = 0, []
        for schedule in queryset:
            try:
                service(schedule_id=schedule.pk, **kwargs)
                done += 1
            except ApplicationError as error:
                refused.append(f"{schedule.name}: {error.message}")
        if done:
            self.message_user(request, f"{verb} {done} schedule(s).", messages.SUCCESS)
        for message in refused[:10]:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description="Enable selected schedules", permissions=["change"])
    def enable_schedules(self, request, queryset):
        self._apply(request, queryset, scheduling.schedule_enable, "Enabled", actor=Actor.admin(request))

    @admin.action(description="Disable selected schedules", permissions=["change"])
    def disable_schedules(self, request, queryset):
        self._apply(request, queryset, scheduling.schedule_disable, "Disabled", actor=Actor.admin(request))

    @admin.action(description="Run selected schedules now", permissions=["change"])
    def run_schedules_now(self, request, queryset):
        self._apply(request, queryset, scheduling.schedule_run_now, "Ran", actor=Actor.admin(request))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the system (heartbeats, metrics): viewable and filterable, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WorkerProcess)
class WorkerProcessAdmin(ReadOnlyAdmin):
    list_display = ["name", "host", "pid", "state", "last_heartbeat", "stopped_at", "tasks_done", "tasks_failed"]
    list_filter = ["state", "host", ("stopped_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "host", "=current_task_id"]
    date_hierarchy = "started_at"
    ordering = ["-last_heartbeat"]


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["bucket_start", "task_type", "completed", "failed", "cancelled", "retries", "duration_p95"]
    list_filter = ["task_type"]
    search_fields = ["task_type"]
    date_hierarchy = "bucket_start"
    ordering = ["-bucket_start", "task_type"]


# The runtime switches' admin lives in its own module; importing it registers it.
from queue_app import admin_switches  # noqa: E402, F401
