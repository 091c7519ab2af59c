"""django-filter sets for the task list."""

import django_filters

from queue_app.models import Task, TaskPriority, TaskSource, TaskStatus


class TaskFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    task_type = django_filters.CharFilter()
    priority = django_filters.ChoiceFilter(choices=TaskPriority.choices)
    source = django_filters.ChoiceFilter(choices=TaskSource.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Task
        fields = ["status", "task_type", "priority", "source"]
