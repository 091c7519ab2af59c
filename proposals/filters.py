"""django-filter set for the proposals list."""

import django_filters

from proposals.models import Proposal, ProposalStatus
from queue_app.filters import UtcIsoDateTimeFilter


class ProposalFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ProposalStatus.choices)
    min_job_score = django_filters.NumberFilter(field_name="job__score", lookup_expr="gte")
    updated_after = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Proposal
        fields = ["status", "job", "profile"]
