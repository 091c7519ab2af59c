"""The task handlers: payload checks, idempotent re-delivery, gone rows, and refusals that must not retry."""

from __future__ import annotations

import uuid

import pytest

from core.errors import PermanentTaskError, ValidationFailed
from proposals import services, tasks
from proposals.models import FreelancerProfile, ProposalVersion
from queue_app import registry
from queue_app.registry import TaskContext
from queue_app.services import task_enqueue

pytestmark = pytest.mark.django_db


def context(task_type: str, task_id: str | None = None, attempt: int = 1) -> TaskContext:
    return TaskContext(task_id=task_id or str(uuid.uuid4()), task_type=task_type, attempt=attempt, max_retries=3)


@pytest.fixture
def proposal(settings, job, profile):
    settings.PROPOSAL_GENERATOR = "template"
    return services.proposal_generate(job_id=job.id)


def test_the_three_task_types_are_registered():
    assert {"generate_proposal", "batch_generate_proposals", "update_proposal"} <= set(registry.all_types())


def test_update_proposal_needs_feedback_or_text_not_both(proposal):
    for payload in ({"proposal_id": proposal.id}, {"proposal_id": proposal.id, "feedback": "a", "text": "b"}):
        with pytest.raises(ValidationFailed) as raised:
            task_enqueue(task_type="update_proposal", payload=payload)
        assert "payload.feedback" in raised.value.field_errors


def test_a_redelivered_update_writes_one_version(proposal):
    ctx = context("update_proposal")
    payload = {"proposal_id": proposal.id, "text": "Edited by the reviewer."}
    first = tasks.update_proposal(payload, ctx)
    second = tasks.update_proposal(payload, TaskContext(ctx.task_id, ctx.task_type, 2, 3))
    assert first == second == {"proposal_id": proposal.id, "version": 2, "source": "edit", "estimated_cost": "0.000000"}
    assert ProposalVersion.objects.filter(proposal=proposal).count() == 2


def test_regeneration_with_feedback_through_the_handler(proposal):
    result = tasks.update_proposal({"proposal_id": proposal.id, "feedback": "Shorter."}, context("update_proposal"))
    assert (result["version"], result["source"]) == (2, "template")
    assert ProposalVersion.objects.get(proposal=proposal, number=2).feedback == "Shorter."


def test_a_gone_job_or_proposal_finishes_quietly(db):
    assert tasks.generate_proposal({"job_id": 987654}, context("generate_proposal"))["outcome"] == "gone"
    gone = tasks.update_proposal({"proposal_id": 987654, "text": "x"}, context("update_proposal"))
    assert gone["outcome"] == "gone"


def test_refusals_are_permanent_failures(proposal, job):
    services.proposal_approve(proposal_id=proposal.id)
    with pytest.raises(PermanentTaskError, match="approved; it can be edited only when"):
        tasks.update_proposal({"proposal_id": proposal.id, "text": "late edit"}, context("update_proposal"))


def test_without_a_profile_generation_fails_for_good_saying_what_to_do(settings, job):
    settings.PROPOSAL_GENERATOR = "template"
    assert not FreelancerProfile.objects.exists()
    with pytest.raises(PermanentTaskError, match="No freelancer profile to write as: create one in the admin"):
        tasks.generate_proposal({"job_id": job.id}, context("generate_proposal"))


def test_generate_for_a_job_that_has_a_proposal_reports_it_without_drafting(proposal, job):
    result = tasks.generate_proposal({"job_id": job.id}, context("generate_proposal"))
    assert (result["proposal_id"], result["version"], result["created_by_this_task"]) == (proposal.id, 1, False)
    assert ProposalVersion.objects.count() == 1
