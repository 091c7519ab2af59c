"""The proposals admin: the review list, the job beside the text, an edit saved as a version, approve and reject."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from proposals import services
from proposals.models import Proposal, ProposalStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser(username="reviewer", password="pw", email="r@example.com")
    client.force_login(admin_user)
    client.user = admin_user
    return client


@pytest.fixture
def proposal(settings, job, profile) -> Proposal:
    settings.PROPOSAL_GENERATOR = "template"
    return services.proposal_generate(job_id=job.id)


def _form(proposal: Proposal, **changes) -> dict:
    data = {
        "text": proposal.versions.get(number=proposal.current_version).text,
        "reviewer_feedback": proposal.reviewer_feedback,
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "1",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        "versions-0-id": str(proposal.versions.get(number=1).id),
        "versions-0-proposal": str(proposal.id),
    }
    data.update(changes)
    return data


def test_the_list_and_the_change_page_show_the_job_beside_the_text(staff_client, proposal):
    listing = staff_client.get("/admin/proposals/proposal/?status__exact=draft")
    assert listing.status_code == 200
    assert proposal.job.title in listing.content.decode()

    page = staff_client.get(f"/admin/proposals/proposal/{proposal.id}/change/").content.decode()
    assert 'class="job-beside"' in page
    assert proposal.job.description in page
    assert "PINEAPPLE" in page  # the current text is in the edit box
    assert 'name="_approve"' in page and 'name="_reject"' in page


def test_saving_a_changed_text_adds_a_version(staff_client, proposal):
    response = staff_client.post(
        f"/admin/proposals/proposal/{proposal.id}/change/", _form(proposal, text="Reviewed and rewritten.")
    )
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.current_version, proposal.status) == (2, ProposalStatus.IN_REVIEW)
    latest = proposal.versions.get(number=2)
    assert (latest.text, latest.source, latest.created_by) == ("Reviewed and rewritten.", "edit", staff_client.user)


def test_save_and_approve_approves_the_saved_text_and_audits_it(staff_client, proposal):
    staff_client.post(
        f"/admin/proposals/proposal/{proposal.id}/change/", _form(proposal, text="Approved words.", _approve="1")
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED
    assert proposal.approved_version.text == "Approved words."
    entry = AuditEntry.objects.get(action="proposal.approve")
    assert (entry.source, entry.actor) == ("admin", staff_client.user)


def test_feedback_written_on_the_proposal_is_saved_through_the_service_and_audited(staff_client, proposal):
    response = staff_client.post(
        f"/admin/proposals/proposal/{proposal.id}/change/", _form(proposal, reviewer_feedback="Shorter, please.")
    )
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.reviewer_feedback == "Shorter, please."
    entry = AuditEntry.objects.get(action="proposal.feedback")
    assert (entry.source, entry.actor, entry.before, entry.after) == (
        "admin",
        staff_client.user,
        {"reviewer_feedback": ""},
        {"reviewer_feedback": "Shorter, please."},
    )


def test_the_reject_action_uses_the_feedback_written_on_the_proposal(staff_client, proposal):
    Proposal.objects.filter(id=proposal.id).update(reviewer_feedback="Too long.")
    staff_client.post(
        "/admin/proposals/proposal/", {"action": "reject", "_selected_action": [proposal.id]}, follow=True
    )
    proposal.refresh_from_db()
    assert (proposal.status, proposal.reviewer_feedback) == (ProposalStatus.REJECTED, "Too long.")
    assert AuditEntry.objects.filter(action="proposal.reject", source="admin").count() == 1


def test_approving_an_approved_proposal_is_reported_not_applied(staff_client, proposal):
    services.proposal_approve(proposal_id=proposal.id)
    response = staff_client.post(
        "/admin/proposals/proposal/", {"action": "approve", "_selected_action": [proposal.id]}, follow=True
    )
    assert "Not changed" in response.content.decode()
    assert AuditEntry.objects.filter(action="proposal.approve").count() == 1


def test_a_second_default_profile_is_a_form_error_not_a_crash(staff_client, profile):
    response = staff_client.post(
        "/admin/proposals/freelancerprofile/add/",
        {"name": "Bob", "tone": "plain", "skills": "[]", "achievements": "[]", "is_default": "on"},
    )
    assert response.status_code == 200
    assert "is the default profile; unset it first." in response.content.decode()
