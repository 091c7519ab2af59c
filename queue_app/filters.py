"""django-filter sets for the task list."""

from datetime import UTC

import django_filters
from django import forms

from core.models import AuditEntry
from queue_app.models import Task, TaskPriority, TaskSource, TaskStatus, WorkerProcess, WorkerState


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time converted to UTC: PostgreSQL refuses offsets past ±15:59 that Python accepts."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Date and time out of range.", code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """Use this for every date-time query parameter (a bad offset is a 400, never a database error)."""

    field_class = UtcIsoDateTimeField


class TaskFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    task_type = django_filters.CharFilter()
    priority = django_filters.ChoiceFilter(choices=TaskPriority.choices)
    source = django_filters.ChoiceFilter(choices=TaskSource.choices)
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Task
        fields = ["status", "task_type", "priority", "source"]


class AuditEntryFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_name", help_text="Username, or 'system'.")
    source = django_filters.ChoiceFilter(choices=TaskSource.choices)
    action = django_filters.CharFilter(help_text="e.g. task.cancel, schedule.disable.")
    object_type = django_filters.CharFilter()
    object_id = django_filters.CharFilter()
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields = ["actor", "source", "action", "object_type", "object_id"]


class WorkerProcessFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=WorkerState.choices)
    host = django_filters.CharFilter()
    live = django_filters.BooleanFilter(
        field_name="stopped_at", lookup_expr="isnull", help_text="true: not stopped; false: stopped."
    )

    class Meta:
        model = WorkerProcess
        fields = ["state", "host"]
