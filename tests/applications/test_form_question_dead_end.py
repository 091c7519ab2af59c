"""The best job's form asks a question the approved proposal does not answer: the reason shows, and there is a way out.

Before: the dry run stopped, the application still said Approved with no error (the reason only under Tasks),
and nothing could change the approved proposal. Now the reason is on the application (admin and API) with the
way out, and reopen → answer → approve → approve the application again ends with a form that fills.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from model_bakery import baker

from applications import services
from applications.models import Application, ApplicationStatus
from core.models import AuditEntry
from jobs.models import Job
from proposals import services as proposal_services
from proposals.models import FreelancerProfile, Proposal, ProposalVersion
from tests.applications.conftest import LETTER, submissions

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def _approved_without_the_question(sandbox) -> Application:
    """Like a job found before questions were captured: its approved proposal answers nothing."""
    sandbox_job = sandbox.state.jobs[0]  # the form asks two questions
    assert sandbox_job.screening_questions
    job = baker.make(
        Job,
        upwork_id=sandbox_job.ciphertext,
        url=f"{sandbox.url}/jobs/{sandbox_job.ciphertext}",
        title=sandbox_job.title,
        job_type=sandbox_job.job_type,
        connects_required=sandbox_job.connects_required,
        score=97,
        status="proposal_drafted",
    )
    profile = baker.make(FreelancerProfile, name="Ada", hourly_rate="60.00", is_default=True)
    proposal = baker.make(Proposal, job=job, profile=profile, screening_questions=[], current_version=1)
    version = baker.make(ProposalVersion, proposal=proposal, number=1, text=LETTER, source="template")
    Proposal.objects.filter(id=proposal.id).update(status="approved", approved_version=version)
    application = services.application_create(proposal_id=proposal.id, bid_amount=Decimal("55.00"))
    return services.application_approve(application_id=application.id)


def test_a_dry_run_stopped_by_a_question_shows_why_and_the_way_out(
    sandbox, browser_session, settings, client, django_user_model, api_client
):
    settings.APPLICATIONS_DRY_RUN = True
    application = _approved_without_the_question(sandbox)

    with pytest.raises(services.SubmissionStopped):
        services.application_submit(application_id=application.id)

    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED  # a dry run sends nothing
    assert "The form asks a question the approved proposal does not answer" in application.error
    assert "Reopen the proposal" in application.error
    assert AuditEntry.objects.filter(action="application.dry_run_stopped", object_id=str(application.id)).exists()
    # The application's own page and the API say so.
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    page = client.get(reverse("admin:applications_application_change", args=[application.id])).content.decode()
    assert "does not answer" in page
    assert reverse("admin:proposals_proposal_change", args=[application.proposal_id]) in page
    assert "reopen it for changes" in page
    detail = api_client.get(f"/api/applications/applications/{application.id}/").json()
    assert "does not answer" in detail["error"]


def test_reopen_answer_and_approve_again_gets_the_form_filled(sandbox, browser_session, settings):
    settings.APPLICATIONS_DRY_RUN = True
    application = _approved_without_the_question(sandbox)
    with pytest.raises(services.SubmissionStopped):
        services.application_submit(application_id=application.id)
    questions = sandbox.state.jobs[0].screening_questions
    Job.objects.filter(id=application.job_id).update(screening_questions=questions)  # what discovery now stores

    proposal = proposal_services.proposal_reopen(proposal_id=application.proposal_id, reason="The form asks.")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.AWAITING_APPROVAL
    assert proposal.screening_questions == questions
    proposal_services.proposal_answers_set(
        proposal_id=proposal.id, answers=[{"question": q, "answer": f"Answer {n}."} for n, q in enumerate(questions)]
    )
    proposal_services.proposal_approve(proposal_id=proposal.id)
    application = services.application_approve(application_id=application.id)
    assert [a["answer"] for a in application.screening_answers] == ["Answer 0.", "Answer 1."]

    result = services.application_submit(application_id=application.id)

    assert result.outcome == "dry_run" and submissions(sandbox) == []
    assert Application.objects.get(id=application.id).last_dry_run_at is not None


def test_a_real_submission_stopped_by_a_question_can_be_reopened(sandbox, browser_session):
    application = _approved_without_the_question(sandbox)

    with pytest.raises(services.SubmissionStopped):
        services.application_submit(application_id=application.id)

    application.refresh_from_db()
    assert application.status == ApplicationStatus.NEEDS_ATTENTION and submissions(sandbox) == []
    assert application.counts_toward_caps is False  # nothing was sent: the slot was given back
    assert "does not answer" in application.error and "Reopen the proposal" in application.error
    proposal_services.proposal_reopen(proposal_id=application.proposal_id)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.AWAITING_APPROVAL
