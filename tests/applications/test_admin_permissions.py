"""Admin actions follow the roles' model permissions; separation of duties for approving applications."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from applications import services
from applications.models import Application, ApplicationStatus
from core.actor import Actor
from core.errors import PermissionRefused
from core.permissions import OPERATOR, VIEWER, role_grant
from jobs.models import Job, JobStatus
from proposals import services as proposal_services
from proposals.models import Proposal, ProposalStatus
from tests.applications.conftest import make_application

pytestmark = pytest.mark.django_db


def _staff(client, django_user_model, username: str, role: str):
    """A staff member (may open the admin) whose model permissions come from a role only."""
    user = django_user_model.objects.create_user(username=username, password="pw", is_staff=True)
    role_grant(user=user, role=role)
    client.force_login(user)
    return user


def _action(client, model: str, action: str, ids: list[int]):
    return client.post(
        reverse(f"admin:{model}_changelist"), {"action": action, "_selected_action": [str(i) for i in ids]}
    )


def _in_review(made) -> Proposal:
    Proposal.objects.filter(id=made.proposal.id).update(status=ProposalStatus.IN_REVIEW, approved_version=None)
    return Proposal.objects.get(id=made.proposal.id)


def test_a_staff_viewer_cannot_run_admin_actions(sandbox, client, django_user_model):
    _staff(client, django_user_model, "watcher", VIEWER)
    made = make_application(sandbox, 0, approve=False)
    changelist = client.get(reverse("admin:applications_application_changelist"))
    assert changelist.status_code == 200 and b'value="approve"' not in changelist.content

    _action(client, "applications_application", "approve", [made.application.id])
    assert Application.objects.get(id=made.application.id).status == ApplicationStatus.AWAITING_APPROVAL

    proposal = _in_review(make_application(sandbox, 1, approve=False))
    _action(client, "proposals_proposal", "approve", [proposal.id])
    assert Proposal.objects.get(id=proposal.id).status == ProposalStatus.IN_REVIEW

    job = made.application.job
    _action(client, "jobs_job", "reject", [job.id])
    assert Job.objects.get(id=job.id).status != JobStatus.REJECTED


def test_a_staff_operator_runs_them(sandbox, client, django_user_model):
    _staff(client, django_user_model, "op", OPERATOR)
    proposal = _in_review(make_application(sandbox, 1, approve=False))
    _action(client, "proposals_proposal", "approve", [proposal.id])
    assert Proposal.objects.get(id=proposal.id).status == ProposalStatus.APPROVED

    made = make_application(sandbox, 0, approve=False)
    _action(client, "applications_application", "approve", [made.application.id])
    assert Application.objects.get(id=made.application.id).status == ApplicationStatus.APPROVED


def test_the_proposal_approver_cannot_approve_its_application_when_a_second_approver_is_required(
    sandbox, settings, django_user_model
):
    settings.APPLICATIONS_REQUIRE_SECOND_APPROVER = True
    first = django_user_model.objects.create_user(username="first")
    second = django_user_model.objects.create_user(username="second")
    for user in (first, second):
        role_grant(user=user, role=OPERATOR)
    made = make_application(sandbox, 0, approve=False)
    proposal = _in_review(made)
    proposal_services.proposal_approve(proposal_id=proposal.id, actor=Actor(user=first))

    with pytest.raises(PermissionRefused, match="first approved proposal"):
        services.application_approve(application_id=made.application.id, actor=Actor(user=first))
    api = APIClient()
    api.force_authenticate(first)
    response = api.post(f"/api/applications/applications/{made.application.id}/approve/", {}, format="json")
    assert response.status_code == 403, response.content
    assert "another person" in response.json()["error"]["message"]
    with pytest.raises(PermissionRefused, match="named approver"):  # the CLI names nobody
        services.application_approve(application_id=made.application.id)
    assert Application.objects.get(id=made.application.id).status == ApplicationStatus.AWAITING_APPROVAL

    assert (
        services.application_approve(application_id=made.application.id, actor=Actor(user=second)).status == "approved"
    )


def test_without_the_setting_one_person_may_approve_both(sandbox, django_user_model):
    user = django_user_model.objects.create_user(username="solo")
    made = make_application(sandbox, 0, approve=False)
    proposal_services.proposal_approve(proposal_id=_in_review(made).id, actor=Actor(user=user))
    assert services.application_approve(application_id=made.application.id, actor=Actor(user=user)).status == "approved"
