"""The review inbox: what needs a person, in sections, with one-click actions that are POST, permitted and audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from model_bakery import baker

from applications.models import Application, ApplicationStatus
from core.models import AuditEntry
from jobs.models import SearchProfile
from proposals.models import ProposalStatus
from queue_app.models import Task
from tests.applications.conftest import make_application
from tests.console.conftest import draft_for, good_job

pytestmark = pytest.mark.django_db

INBOX = "/admin/inbox/"


def act(name: str, object_id: int) -> str:
    return reverse("console-inbox-action", args=[name, object_id])


def test_inbox_needs_staff(client, django_user_model):
    assert client.get(INBOX).status_code == 302
    client.force_login(django_user_model.objects.create_user("plain", password="pw"))
    response = client.get(INBOX)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_index_links_to_the_inbox_and_the_business_dashboard(boss_client):
    page = boss_client.get("/admin/").content.decode()
    assert 'href="/admin/inbox/"' in page and 'href="/admin/business/"' in page


def test_jobs_above_their_profiles_threshold_are_listed_and_the_rest_are_not(boss_client):
    strict = baker.make(SearchProfile, name="strict", handoff_min_score=90)
    shown = good_job(title="Above the default threshold", score=70)
    good_job(title="Below its profile threshold", score=85, profile=strict)
    good_job(title="Failed a hard filter", score=95, passed_filters=False)
    good_job(title="Already rejected", score=95, status="rejected")
    drafted = good_job(title="Already drafted", score=99)
    draft_for(drafted)

    sections = boss_client.get(INBOX).context["sections"]

    assert [job.id for job in sections["jobs"]] == [shown.id]
    assert [proposal.job_id for proposal in sections["drafts"]] == [drafted.id]


def test_generate_proposal_from_the_inbox_queues_one_task_audited_with_the_person(boss_client, boss):
    job = good_job()

    response = boss_client.post(act("generate_proposal", job.id), follow=True)

    assert response.status_code == 200
    task = Task.objects.get(task_type="generate_proposal")
    assert task.payload["job_id"] == job.id
    assert AuditEntry.objects.filter(action="task.enqueue", object_id=str(task.id), actor=boss).exists()
    assert "Drafting a proposal" in response.content.decode()

    again = boss_client.post(act("generate_proposal", job.id), follow=True).content.decode()
    assert "already being written" in again
    assert Task.objects.filter(task_type="generate_proposal").count() == 1


def test_approve_and_reject_with_feedback_call_the_audited_services(boss_client, boss):
    first, second = draft_for(good_job()), draft_for(good_job(title="Second"))

    boss_client.post(act("approve_proposal", first.id))
    boss_client.post(act("reject_proposal", second.id), {"feedback": "Mention the Celery migration."})

    first.refresh_from_db(), second.refresh_from_db()
    assert first.status == ProposalStatus.APPROVED and first.reviewed_by == boss
    assert second.status == ProposalStatus.REJECTED
    assert second.reviewer_feedback == "Mention the Celery migration."
    actions = set(AuditEntry.objects.filter(actor=boss, source="admin").values_list("action", flat=True))
    assert {"proposal.approve", "proposal.reject"} <= actions


def test_create_then_approve_the_application_then_send_it(sandbox, boss_client, boss):
    made = make_application(sandbox, 1)
    Application.objects.filter(id=made.application.id).delete()  # an approved proposal without an application
    proposal = made.proposal

    page = boss_client.get(INBOX)
    assert [p.id for p in page.context["sections"]["approved"]] == [proposal.id]

    boss_client.post(act("create_application", proposal.id))
    application = Application.objects.get(proposal=proposal)
    assert application.status == ApplicationStatus.AWAITING_APPROVAL
    assert [a.id for a in boss_client.get(INBOX).context["sections"]["applications"]] == [application.id]

    application.bid_amount = None
    application.save(update_fields=["bid_amount"])
    refused = boss_client.post(act("approve_application", application.id), {"bid_amount": "lots"}, follow=True)
    assert "The bid must be an amount in USD, e.g. 450 or 55.50." in refused.content.decode()
    boss_client.post(act("approve_application", application.id), {"bid_amount": "450"})
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED and application.approved_by == boss
    assert str(application.bid_amount) == "450.00"

    boss_client.post(act("send_application", application.id))
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SCHEDULED
    assert Task.objects.filter(task_type="submit_application", payload__application_id=application.id).exists()
    audited = AuditEntry.objects.filter(object_type="application", object_id=str(application.id), actor=boss)
    assert {"application.create", "application.approve", "application.schedule"} <= set(
        audited.values_list("action", flat=True)
    )


def test_dry_run_from_the_inbox_queues_a_dry_run_task(sandbox, boss_client, boss):
    made = make_application(sandbox, 1)
    ready = boss_client.get(INBOX).context["sections"]["ready"]
    assert [a.id for a in ready] == [made.application.id]

    boss_client.post(act("dry_run", made.application.id))

    task = Task.objects.get(task_type="submit_application")
    assert task.payload == {"application_id": made.application.id, "dry_run": True}
    assert AuditEntry.objects.filter(action="task.enqueue", object_id=str(task.id), actor=boss).exists()


def test_a_refused_action_shows_the_services_reason_and_changes_nothing(boss_client):
    proposal = draft_for(good_job(), status="approved")

    response = boss_client.post(act("approve_proposal", proposal.id), follow=True)

    assert f"Proposal {proposal.id} is approved; it can be approved only when draft or in_review." in (
        response.content.decode()
    )
    assert not AuditEntry.objects.filter(action="proposal.approve").exists()


def test_actions_need_post_csrf_and_the_model_permission(viewer_client, boss):
    proposal = draft_for(good_job())

    assert viewer_client.get(act("approve_proposal", proposal.id)).status_code == 405
    assert viewer_client.post(act("approve_proposal", proposal.id)).status_code == 403
    page = viewer_client.get(INBOX).content.decode()
    assert 'data-action="approve_proposal"' not in page  # the viewer sees the draft but no button
    assert proposal.job.title in page

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(boss)
    assert strict.post(act("approve_proposal", proposal.id)).status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.DRAFT


def test_unknown_action_and_foreign_next_are_refused(boss_client):
    proposal = draft_for(good_job())
    response = boss_client.post(act("delete_everything", proposal.id), {"next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == INBOX


def test_attention_lists_stopped_applications(sandbox, boss_client):
    made = make_application(sandbox, 1)
    Application.objects.filter(id=made.application.id).update(
        status=ApplicationStatus.NEEDS_ATTENTION, error="Upwork showed a CAPTCHA."
    )
    items = boss_client.get(INBOX).context["sections"]["attention"]
    assert [(item["kind"], item["id"], item["reason"]) for item in items] == [
        ("application", made.application.id, "Upwork showed a CAPTCHA.")
    ]
