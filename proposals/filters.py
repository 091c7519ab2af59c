"""django-filter set for the proposals list."""

import django_filters

from proposals.models import Proposal, ProposalStatus


class ProposalFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ProposalStatus.choices)
    min_job_score = django_filters.NumberFilter(field_name="job__score", lookup_expr="gte")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Proposal
        fields = ["status", "job", "profile"]
