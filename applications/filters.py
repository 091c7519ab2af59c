"""Filters for the applications list."""

from django_filters import rest_framework as filters

from applications.models import Application, ApplicationStatus, Outcome
from queue_app.filters import UtcIsoDateTimeFilter


class ApplicationFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=ApplicationStatus.choices)
    outcome = filters.MultipleChoiceFilter(choices=Outcome.choices)
    job = filters.NumberFilter(field_name="job_id")
    submitted_after = UtcIsoDateTimeFilter(field_name="submitted_at", lookup_expr="gte")

    class Meta:
        model = Application
        fields = ["status", "outcome", "job", "submitted_after"]
