"""The review page: each screening answer edited on its own, questions changed regenerate, and Reopen for changes."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from proposals import services
from proposals.models import Proposal, ProposalStatus
from queue_app.models import Task
from tests.proposals.test_admin import _form

pytestmark = pytest.mark.django_db
QUESTION = "What is your availability?"


@pytest.fixture
def staff_client(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser(username="reviewer", password="pw", email="r@example.com")
    client.force_login(admin_user)
    client.user = admin_user
    return client


@pytest.fixture
def proposal(settings, job, profile) -> Proposal:
    settings.PROPOSAL_GENERATOR = "template"
    job.description = "We need a Django developer to build an admin dashboard on PostgreSQL."
    job.screening_questions = [QUESTION]
    job.save(update_fields=["description", "screening_questions"])
    return services.proposal_generate(job_id=job.id)


def _url(proposal: Proposal) -> str:
    return f"/admin/proposals/proposal/{proposal.id}/change/"


def test_the_review_page_has_one_box_per_answer(staff_client, proposal):
    page = staff_client.get(_url(proposal)).content.decode()
    assert "Screening questions and answers" in page
    assert f"Answer: {QUESTION}" in page and 'name="answer_0"' in page
    assert "[answer before sending]</textarea>" in page


def test_saving_one_answer_adds_a_version_with_it(staff_client, proposal):
    data = _form(proposal, questions=QUESTION, answer_0="Weekdays, 9 to 5 CET.")
    assert staff_client.post(_url(proposal), data).status_code == 302
    proposal.refresh_from_db()
    assert (proposal.current_version, proposal.status) == (2, ProposalStatus.IN_REVIEW)
    assert f"Q: {QUESTION}\nA: Weekdays, 9 to 5 CET." in proposal.versions.get(number=2).text
    assert AuditEntry.objects.get(action="proposal.answers").source == "admin"


def test_changed_questions_queue_a_regeneration_that_answers_them(staff_client, proposal):
    data = _form(proposal, questions=f"{QUESTION}\nDo you have a portfolio?", answer_0="[answer before sending]")
    staff_client.post(_url(proposal), data)
    task = Task.objects.get(task_type="update_proposal")
    assert task.payload["screening_questions"] == [QUESTION, "Do you have a portfolio?"]
    assert (task.source, task.payload["proposal_id"]) == ("admin", proposal.id)


def test_reopen_button_on_an_approved_proposal(staff_client, proposal):
    services.proposal_answers_set(proposal_id=proposal.id, answers=[{"question": QUESTION, "answer": "Now."}])
    services.proposal_approve(proposal_id=proposal.id)
    proposal.refresh_from_db()
    page = staff_client.get(_url(proposal)).content.decode()
    assert 'name="_reopen"' in page and 'name="_approve"' not in page

    response = staff_client.post(_url(proposal), _form(proposal, questions=QUESTION, answer_0="Now.", _reopen="1"))

    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.status, proposal.current_version) == (ProposalStatus.IN_REVIEW, 3)
    entry = AuditEntry.objects.get(action="proposal.reopen")
    assert (entry.source, entry.actor) == ("admin", staff_client.user)


def test_reopen_action_reports_what_it_could_not_reopen(staff_client, proposal):
    response = staff_client.post(
        "/admin/proposals/proposal/", {"action": "reopen", "_selected_action": [proposal.id]}, follow=True
    )
    assert "not approved" in response.content.decode()
    assert not AuditEntry.objects.filter(action="proposal.reopen").exists()
