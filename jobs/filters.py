"""django-filter set for the jobs list."""

import django_filters
from django.db.models import Q

from jobs.models import Job, JobStatus, JobType
from queue_app.filters import UtcIsoDateTimeFilter


class JobFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=JobStatus.choices)
    job_type = django_filters.ChoiceFilter(choices=JobType.choices)
    min_score = django_filters.NumberFilter(field_name="score", lookup_expr="gte")
    max_score = django_filters.NumberFilter(field_name="score", lookup_expr="lte")
    min_budget = django_filters.NumberFilter(method="filter_min_budget", help_text="Fixed budget or top hourly rate.")
    max_budget = django_filters.NumberFilter(method="filter_max_budget", help_text="Fixed budget or top hourly rate.")
    posted_after = UtcIsoDateTimeFilter(field_name="posted_at", lookup_expr="gte")
    client_country = django_filters.CharFilter(lookup_expr="iexact")
    skill = django_filters.CharFilter(method="filter_skill", help_text="Jobs listing this skill (exact name).")

    class Meta:
        model = Job
        fields = ["status", "job_type", "passed_filters", "profile", "source", "client_payment_verified"]

    def filter_min_budget(self, queryset, name, value):
        return queryset.filter(Q(budget__gte=value) | Q(hourly_max__gte=value))

    def filter_max_budget(self, queryset, name, value):
        return queryset.filter(Q(budget__lte=value) | Q(hourly_max__lte=value))

    def filter_skill(self, queryset, name, value):
        return queryset.filter(skills__contains=[value])
