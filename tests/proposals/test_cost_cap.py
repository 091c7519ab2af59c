"""The daily OpenAI cost cap: generation stops once today's estimated spend reaches it; yesterday does not count."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from model_bakery import baker

from jobs.models import Job, JobStatus
from proposals import selectors, services
from proposals.drafting import CostCapReached
from proposals.models import Proposal, ProposalVersion
from queue_app.models import Task

pytestmark = pytest.mark.django_db


def spend(amount: str, *, days_ago: int = 0) -> ProposalVersion:
    other_job = baker.make(Job)
    proposal = baker.make(Proposal, job=other_job, current_version=1)
    version = baker.make(ProposalVersion, proposal=proposal, number=1, text="x", source="openai", estimated_cost=amount)
    if days_ago:
        ProposalVersion.objects.filter(id=version.id).update(created_at=timezone.now() - timedelta(days=days_ago))
    return version


def test_todays_spend_sums_todays_versions_only(openai_stub):
    spend("0.40")
    spend("0.35")
    spend("9.00", days_ago=1)
    assert selectors.openai_spent_today() == Decimal("0.75")


def test_generation_stops_at_the_cap_without_calling_openai(openai_stub, job, profile, settings):
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("1.00")
    spend("1.00")
    with pytest.raises(CostCapReached, match=r"daily OpenAI cost cap of \$1.00 is reached"):
        services.proposal_generate(job_id=job.id)
    assert openai_stub.state.requests == []
    assert not Proposal.objects.filter(job=job).exists()


def test_under_the_cap_generation_goes_on_and_its_cost_counts(openai_stub, job, profile, settings):
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("1.00")
    spend("0.999")
    services.proposal_generate(job_id=job.id)  # $0.999 < $1.00: allowed, and it costs $0.0018
    assert selectors.openai_spent_today() == Decimal("1.000800")
    second = baker.make(Job, status=JobStatus.SHORTLISTED)
    with pytest.raises(CostCapReached):
        services.proposal_generate(job_id=second.id)
    assert len(openai_stub.state.requests) == 1


def test_the_template_drafter_is_not_capped(openai_stub, job, profile, settings):
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("0")
    proposal = services.proposal_generate(job_id=job.id, generator="template")
    assert proposal.current_version == 1


def test_a_batch_at_the_cap_fans_out_nothing(openai_stub, job, profile, settings):
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("1.00")
    spend("1.50")
    progress = services.proposals_batch_generate()
    assert progress["stopped_by"] == "cost_cap"
    assert (progress["candidates"], progress["enqueued"], progress["remaining"]) == (1, 0, 1)
    assert not Task.objects.filter(task_type="generate_proposal").exists()


def test_a_batch_fans_out_only_what_the_remaining_budget_affords(openai_stub, profile, settings):
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("1.00")
    settings.PROPOSAL_BATCH_CONCURRENCY = 10
    spend("0.30")
    spend("0.30")  # average $0.30 a proposal; $0.40 left affords one more
    baker.make(Job, status=JobStatus.SHORTLISTED, score=90, _quantity=3)
    progress = services.proposals_batch_generate()
    assert progress["cost"]["affordable"] == 1
    assert (progress["enqueued"], progress["remaining"], progress["stopped_by"]) == (1, 2, "cost_cap")
