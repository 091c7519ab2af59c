"""manage.py proposals: generate now or queued, list, show, approve, reject, and errors a person can act on."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import AuditEntry
from proposals.models import Proposal, ProposalStatus
from queue_app.models import Task

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("proposals", *args, stdout=out)
    return out.getvalue()


def test_generate_now_with_the_template_then_approve(job, profile):
    output = run("generate", str(job.id), "--generator", "template", "--now", "--question", "Availability?")
    proposal = Proposal.objects.get(job=job)
    assert f"Proposal {proposal.id} (version 1) drafted." in output
    assert "PINEAPPLE" in output and "Q: Availability?" in output
    assert proposal.job.title in run("list", "--status", "draft")
    assert "approved" in run("approve", str(proposal.id))
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPROVED
    assert AuditEntry.objects.get(action="proposal.approve").source == "cli"


def test_generate_and_batch_are_queued_by_default(job):
    assert "Queued generate_proposal" in run("generate", str(job.id))
    assert "Queued batch_generate_proposals" in run("batch", "--limit", "2")
    assert Task.objects.filter(source="cli").count() == 2


def test_mistakes_are_sentences_not_tracebacks(job, profile, settings):
    settings.OPENAI_API_KEY = ""
    settings.PROPOSAL_GENERATOR = "openai"
    with pytest.raises(
        CommandError, match="OpenAI is not configured: set OPENAI_API_KEY or PROPOSAL_GENERATOR=template"
    ):
        run("generate", str(job.id), "--now")
    with pytest.raises(CommandError, match="No proposal with id 424242"):
        run("show", "424242")
    with pytest.raises(CommandError, match="No proposal with id 424242"):
        run("reject", "424242", "--feedback", "x")
