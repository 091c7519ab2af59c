"""Screening questions reach every draft; an approved proposal can be reopened; regenerate with questions works."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from applications import services as application_services
from applications.models import Application, ApplicationStatus
from core.actor import Actor
from core.errors import InvalidTransition, ValidationFailed
from core.models import AuditEntry
from proposals import services, tasks
from proposals.models import Proposal, ProposalStatus
from queue_app.models import Task
from queue_app.registry import TaskContext

pytestmark = pytest.mark.django_db
BASE = "/api/proposals/proposals/"
QUESTION = "What is your availability?"


@pytest.fixture
def job(job):
    """The shared job without its "answer this first" ask (that one leaves a placeholder in the letter)."""
    job.description = "We need a Django developer to build an admin dashboard on PostgreSQL."
    job.save(update_fields=["description"])
    return job


@pytest.fixture
def asking_job(job):
    job.screening_questions = [QUESTION]
    job.save(update_fields=["screening_questions"])
    return job


@pytest.fixture
def template(settings):
    settings.PROPOSAL_GENERATOR = "template"


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("proposals", *args, stdout=out)
    return out.getvalue()


def _approved_with_application(proposal: Proposal, *, answer: str = "Mornings, 20 h a week.") -> Application:
    if proposal.screening_questions:
        services.proposal_answers_set(proposal_id=proposal.id, answers=[{"question": QUESTION, "answer": answer}])
    services.proposal_approve(proposal_id=proposal.id)
    application = application_services.application_create(proposal_id=proposal.id, bid_amount=Decimal("60"))
    return application_services.application_approve(application_id=application.id)


# --- every draft answers the job's questions ---------------------------------------------------
def test_the_template_draft_answers_the_questions_found_on_the_job(asking_job, profile, template):
    proposal = services.proposal_generate(job_id=asking_job.id)
    assert proposal.screening_questions == [QUESTION]
    assert f"Q: {QUESTION}" in proposal.versions.get().text


def test_the_openai_prompt_carries_the_questions_found_on_the_job(asking_job, profile, openai_stub):
    services.proposal_generate(job_id=asking_job.id)
    prompt = openai_stub.state.requests[-1]["json"]["messages"][1]["content"]
    assert f"# Screening questions (answer each)\n1. {QUESTION}" in prompt


# --- regenerate with questions -----------------------------------------------------------------
def test_generate_with_new_questions_on_a_drafted_proposal_writes_a_new_version(job, profile, template):
    first = services.proposal_generate(job_id=job.id)
    assert first.current_version == 1 and first.screening_questions == []

    again = services.proposal_generate(job_id=job.id, screening_questions=[QUESTION])

    assert again.id == first.id and again.current_version == 2
    assert again.screening_questions == [QUESTION]
    assert f"Q: {QUESTION}" in again.versions.get(number=2).text


def test_cli_generate_question_says_it_regenerated(job, profile, template):
    _run("generate", str(job.id), "--now")
    output = _run("generate", str(job.id), "--now", "--question", QUESTION)
    proposal = Proposal.objects.get(job=job)
    assert f"Proposal {proposal.id} regenerated as version 2 to answer 1 screening question(s)." in output
    assert "drafted." not in output
    assert "already has version 2" in _run("generate", str(job.id), "--now", "--question", QUESTION)


def test_regenerate_with_questions_replaces_them_and_is_audited(job, profile, template, user):
    proposal = services.proposal_generate(job_id=job.id)
    version = services.proposal_regenerate(
        proposal_id=proposal.id, screening_questions=[QUESTION], actor=Actor(user=user)
    )
    proposal.refresh_from_db()
    assert proposal.screening_questions == [QUESTION] and f"Q: {QUESTION}" in version.text
    entry = AuditEntry.objects.get(action="proposal.questions")
    assert entry.before == {"screening_questions": []} and entry.after == {"screening_questions": [QUESTION]}


def test_api_regenerate_honours_screening_questions(api_client, job, profile, template):
    proposal = services.proposal_generate(job_id=job.id)
    response = api_client.post(f"{BASE}{proposal.id}/regenerate/", {"screening_questions": [QUESTION]}, format="json")
    assert response.status_code == 202, response.content
    task = Task.objects.get(task_type="update_proposal")
    assert task.payload["screening_questions"] == [QUESTION]
    context = TaskContext(task_id=str(task.id), task_type="update_proposal", attempt=1, max_retries=0)
    result = tasks.update_proposal(tasks.UpdateProposalPayload(data=task.payload).run_validation(task.payload), context)
    assert result["version"] == 2
    assert f"Q: {QUESTION}" in Proposal.objects.get(id=proposal.id).versions.get(number=2).text
    empty = api_client.post(f"{BASE}{proposal.id}/regenerate/", {}, format="json")
    assert empty.status_code == 400 and "feedback" in empty.json()["error"]["field_errors"]


def test_regenerating_an_approved_proposal_says_to_reopen_it(job, profile, template):
    proposal = services.proposal_generate(job_id=job.id)
    services.proposal_approve(proposal_id=proposal.id)
    with pytest.raises(InvalidTransition, match="Reopen it first"):
        services.proposal_regenerate(proposal_id=proposal.id, screening_questions=[QUESTION])


# --- reopen -------------------------------------------------------------------------------------
def test_reopen_makes_a_new_version_in_review_and_holds_the_application(asking_job, profile, template, user):
    proposal = services.proposal_generate(job_id=asking_job.id)
    application = _approved_with_application(proposal)
    approved = Proposal.objects.get(id=proposal.id).approved_version

    reopened = services.proposal_reopen(
        proposal_id=proposal.id, reason="The form asks a question.", actor=Actor(user=user, source="admin")
    )

    assert reopened.status == ProposalStatus.IN_REVIEW and reopened.approved_version is None
    assert reopened.current_version == approved.number + 1
    assert reopened.versions.get(number=reopened.current_version).text == approved.text
    application.refresh_from_db()
    assert application.status == ApplicationStatus.AWAITING_APPROVAL
    assert "reopened" in application.error
    entry = AuditEntry.objects.get(action="proposal.reopen")
    assert (entry.actor, entry.source, entry.after["applications_held"]) == (user, "admin", [application.id])
    assert AuditEntry.objects.filter(action="application.hold", object_id=str(application.id)).exists()
    # The way out: answer, approve again, approve the application again.
    services.proposal_answers_set(proposal_id=proposal.id, answers=[{"question": QUESTION, "answer": "Evenings."}])
    services.proposal_approve(proposal_id=proposal.id)
    application = application_services.application_approve(application_id=application.id)
    assert application.screening_answers == [{"question": QUESTION, "answer": "Evenings."}]


def test_reopen_adds_the_jobs_questions_the_proposal_lacked_as_unanswered(job, profile, template):
    proposal = services.proposal_generate(job_id=job.id)  # the job had no questions then
    application = _approved_with_application(proposal)
    job.screening_questions = [QUESTION]  # a later discovery read them
    job.save(update_fields=["screening_questions"])

    reopened = services.proposal_reopen(proposal_id=proposal.id)

    assert reopened.screening_questions == [QUESTION]
    text = reopened.versions.get(number=reopened.current_version).text
    assert f"Q: {QUESTION}\nA: [answer before sending]" in text
    services.proposal_approve(proposal_id=proposal.id)
    with pytest.raises(ValidationFailed, match=f"No answer to: {QUESTION}"):
        application_services.application_approve(application_id=application.id)


def test_reopen_is_refused_once_an_application_was_sent(job, profile, template):
    proposal = services.proposal_generate(job_id=job.id)
    application = _approved_with_application(proposal)
    Application.objects.filter(id=application.id).update(status=ApplicationStatus.SUBMITTED, counts_toward_caps=True)
    with pytest.raises(InvalidTransition, match="cannot be reopened"):
        services.proposal_reopen(proposal_id=proposal.id)
    assert Proposal.objects.get(id=proposal.id).status == ProposalStatus.APPROVED
    assert not AuditEntry.objects.filter(action="proposal.reopen").exists()


def test_reopen_is_refused_for_a_proposal_not_approved(job, profile, template):
    proposal = services.proposal_generate(job_id=job.id)
    with pytest.raises(InvalidTransition, match="not approved"):
        services.proposal_reopen(proposal_id=proposal.id)


def test_reopen_from_the_api_and_the_cli(api_client, job, profile, template, user):
    proposal = services.proposal_generate(job_id=job.id)
    services.proposal_approve(proposal_id=proposal.id)
    response = api_client.post(f"{BASE}{proposal.id}/reopen/", {"reason": "typo"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "in_review"
    assert AuditEntry.objects.get(action="proposal.reopen").source == "api"
    assert APIClient().post(f"{BASE}{proposal.id}/reopen/", {}, format="json").status_code in (401, 403)
    services.proposal_approve(proposal_id=proposal.id)
    assert "reopened as version 3" in _run("reopen", str(proposal.id), "--reason", "again")
    with pytest.raises(CommandError, match="not approved"):
        _run("reopen", str(proposal.id))


# --- answers one by one -------------------------------------------------------------------------
def test_answers_are_edited_one_by_one_into_a_new_version(asking_job, profile, template, user):
    proposal = services.proposal_generate(job_id=asking_job.id)
    letter_before = proposal.versions.get().text.split("Screening answers:")[0]
    version = services.proposal_answers_set(
        proposal_id=proposal.id,
        answers=[{"question": QUESTION, "answer": "Weekdays 9-17 CET."}],
        actor=Actor(user=user),
    )
    assert version.number == 2 and version.source == "edit" and version.created_by == user
    assert version.text.startswith(letter_before.strip())
    assert f"Q: {QUESTION}\nA: Weekdays 9-17 CET." in version.text
    assert AuditEntry.objects.get(action="proposal.answers").actor == user
    with pytest.raises(ValidationFailed) as raised:
        services.proposal_answers_set(proposal_id=proposal.id, answers=[{"question": "Other?", "answer": "x"}])
    assert raised.value.field_errors == {"answers": ["Unknown question: Other?"]}


def test_api_answers_endpoint(api_client, asking_job, profile, template):
    proposal = services.proposal_generate(job_id=asking_job.id)
    response = api_client.post(
        f"{BASE}{proposal.id}/answers/", {"answers": [{"question": QUESTION, "answer": "Now."}]}, format="json"
    )
    assert response.status_code == 201 and "A: Now." in response.json()["text"]
    bad = api_client.post(f"{BASE}{proposal.id}/answers/", {"answers": []}, format="json")
    assert bad.status_code == 400
