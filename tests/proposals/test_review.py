"""Review: edits become versions, approve and reject move the status once, both are audited in the same transaction."""

from __future__ import annotations

import pytest

from core import transitions
from core.actor import Actor
from core.errors import InvalidTransition, ValidationFailed
from core.models import AuditEntry
from proposals import services
from proposals.models import Proposal, ProposalStatus, ProposalVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposal(settings, job, profile) -> Proposal:
    settings.PROPOSAL_GENERATOR = "template"
    return services.proposal_generate(job_id=job.id)


def test_an_edit_is_a_new_version_and_puts_the_proposal_in_review(proposal, user):
    first = proposal.versions.get()
    version = services.proposal_edit(proposal_id=proposal.id, text="  My own words.  ", actor=Actor(user=user))
    proposal.refresh_from_db()
    assert (version.number, version.text, version.source, version.created_by) == (2, "My own words.", "edit", user)
    assert (proposal.current_version, proposal.status) == (2, ProposalStatus.IN_REVIEW)
    first.refresh_from_db()
    assert first.text != "My own words."  # the earlier version is kept unchanged


def test_an_empty_edit_is_refused(proposal):
    with pytest.raises(ValidationFailed) as raised:
        services.proposal_edit(proposal_id=proposal.id, text="   ")
    assert raised.value.field_errors == {"text": ["This field is required."]}
    assert ProposalVersion.objects.count() == 1


def test_approval_pins_the_current_version_and_is_audited(proposal, user):
    services.proposal_edit(proposal_id=proposal.id, text="Final text.", actor=Actor(user=user))
    approved = services.proposal_approve(
        proposal_id=proposal.id, actor=Actor(user=user, source="admin", remote_addr="10.0.0.7")
    )

    assert approved.status == ProposalStatus.APPROVED
    assert approved.approved_version.number == 2 and approved.approved_version.text == "Final text."
    assert (approved.reviewed_by, approved.reviewed_at is not None) == (user, True)
    entry = AuditEntry.objects.get(action="proposal.approve")
    assert (entry.object_type, entry.object_id, entry.source, entry.actor, entry.remote_addr) == (
        "proposal",
        str(proposal.id),
        "admin",
        user,
        "10.0.0.7",
    )
    assert entry.before["status"] == "in_review" and entry.after == {
        "status": "approved",
        "version": 2,
        "approved_version": 2,
        "reviewer_feedback": "",
    }


def test_rejection_keeps_the_feedback_and_is_audited(proposal, user):
    rejected = services.proposal_reject(
        proposal_id=proposal.id, feedback="Too generic.", actor=Actor(user=user, source="api")
    )
    assert (rejected.status, rejected.reviewer_feedback) == (ProposalStatus.REJECTED, "Too generic.")
    entry = AuditEntry.objects.get(action="proposal.reject")
    assert entry.before["status"] == "draft" and entry.after["reviewer_feedback"] == "Too generic."


def test_a_rejected_proposal_can_be_regenerated_and_reviewed_again(proposal):
    services.proposal_reject(proposal_id=proposal.id, feedback="Mention the 2 TB migration.")
    version = services.proposal_regenerate(proposal_id=proposal.id, feedback="Mention the 2 TB migration.")
    proposal.refresh_from_db()
    assert (version.number, proposal.status) == (2, ProposalStatus.DRAFT)
    assert services.proposal_approve(proposal_id=proposal.id).status == ProposalStatus.APPROVED


def test_an_approved_proposal_is_final(proposal):
    services.proposal_approve(proposal_id=proposal.id)
    with pytest.raises(InvalidTransition, match="approved; it can be edited only when"):
        services.proposal_edit(proposal_id=proposal.id, text="Sneaky change.")
    with pytest.raises(InvalidTransition):
        services.proposal_reject(proposal_id=proposal.id, feedback="late")
    with pytest.raises(InvalidTransition):
        services.proposal_approve(proposal_id=proposal.id)
    assert AuditEntry.objects.filter(action__startswith="proposal.").count() == 1


def test_a_failed_audit_write_rolls_the_approval_back(proposal, monkeypatch):
    def broken_audit(**kwargs):
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(transitions, "audit_record", broken_audit)
    with pytest.raises(RuntimeError):
        services.proposal_approve(proposal_id=proposal.id)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.DRAFT and proposal.approved_version is None


def test_update_tasks_are_idempotent_per_task_id(proposal):
    task_id = "3f1e9b8a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    first = services.proposal_edit(proposal_id=proposal.id, text="Edited once.", task_id=task_id)
    again = services.proposal_edit(proposal_id=proposal.id, text="Edited once.", task_id=task_id)
    assert first.id == again.id
    assert ProposalVersion.objects.filter(proposal=proposal).count() == 2
