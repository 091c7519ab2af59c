"""Fixtures for the console: staff users with and without permissions; the sandbox and OpenAI stand-ins reused."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from model_bakery import baker

from jobs.models import Job
from proposals.models import Proposal, ProposalVersion
from tests.applications.conftest import browser_session, media_root, sandbox, sandbox_server  # noqa: F401
from tests.proposals.conftest import openai_server, openai_stub, profile  # noqa: F401

LETTER = "Hi, I have built three Django dashboards like yours.\nI would start with a short call.\n\nBest regards,\nAda"


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss")


@pytest.fixture
def boss_client(client, boss):
    client.force_login(boss)
    return client


@pytest.fixture
def viewer_client(client, django_user_model):
    """Staff who may look at everything but change nothing."""
    user = django_user_model.objects.create_user("looker", password="pw-look", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(user)
    return client


def good_job(**fields) -> Job:
    values = {"title": "Django dashboard for a logistics firm", "score": 82, "passed_filters": True, "status": "new"}
    values.update(fields)
    return baker.make(Job, **values)


def draft_for(job: Job, *, text: str = LETTER, status: str = "draft") -> Proposal:
    proposal = baker.make(Proposal, job=job, current_version=1)
    version = baker.make(ProposalVersion, proposal=proposal, number=1, text=text, source="template")
    if status == "approved":
        Proposal.objects.filter(id=proposal.id).update(status=status, approved_version=version)
    elif status != "draft":
        Proposal.objects.filter(id=proposal.id).update(status=status)
    proposal.refresh_from_db()
    return proposal
