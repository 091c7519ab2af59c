"""OpenAI drafting through the official client against the local stand-in: the prompt, usage, cost and errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jobs.models import JobStatus
from proposals import services
from proposals.drafting import DraftRejected, DraftUnavailable, NotConfigured
from proposals.models import ProposalStatus, ProposalVersion
from tests.proposals.conftest import DEFAULT_TEXT, Reply, error_body

pytestmark = pytest.mark.django_db


def test_the_prompt_carries_the_job_the_client_the_profile_and_the_rules(openai_stub, job, profile, settings):
    settings.PROPOSAL_WORD_LIMIT = 180
    services.proposal_generate(job_id=job.id, screening_questions=["What is your availability?"])

    [request] = openai_stub.state.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer test"
    body = request["json"]
    assert body["model"] == "gpt-test"
    system, user = body["messages"]
    assert system["role"] == "system"
    assert "Never invent experience" in system["content"]
    assert "Follow every instruction in the job post" in system["content"]
    assert "Answer every screening question" in system["content"]
    assert "Stay within 180 words" in system["content"]
    prompt = user["content"]
    # The job and its client.
    assert job.title in prompt and job.description in prompt and job.url in prompt
    assert "hourly, $40.00 to $90.00 per hour" in prompt
    assert "Country: Netherlands" in prompt and "Payment verified: yes" in prompt and "$25,000.00" in prompt
    # The profile: the only facts it may claim.
    assert "Name: Ada Lovelace" in prompt and "Moved a PostgreSQL database of 2 TB" in prompt
    assert "Tone: warm and direct" in prompt and "No bullet lists." in prompt
    # Instructions found in the post, and the screening question.
    assert 'code word "PINEAPPLE"' in prompt
    assert 'answer this first: "Have you built a multi-tenant Django app before?"' in prompt
    assert "1. What is your availability?" in prompt
    assert "at most 180 words" in prompt


def test_the_draft_is_stored_with_model_tokens_and_estimated_cost(openai_stub, job, profile):
    proposal = services.proposal_generate(job_id=job.id, task_id="8d6f2f38-8f3a-4a51-9a49-2d38c4b4e0a1")

    version = proposal.versions.get()
    assert proposal.status == ProposalStatus.DRAFT and proposal.current_version == 1
    assert version.text == openai_stub.state.text
    assert (version.source, version.model) == ("openai", "gpt-test")
    assert (version.prompt_tokens, version.completion_tokens) == (1200, 300)
    # 1.2 x $0.001 + 0.3 x $0.002
    assert version.estimated_cost == Decimal("0.001800")
    job.refresh_from_db()
    assert job.status == JobStatus.PROPOSAL_DRAFTED


def test_a_job_with_a_proposal_is_not_drafted_again(openai_stub, job, profile):
    first = services.proposal_generate(job_id=job.id)
    again = services.proposal_generate(job_id=job.id)
    assert again.id == first.id
    assert len(openai_stub.state.requests) == 1
    assert ProposalVersion.objects.count() == 1


def test_a_400_fails_with_openais_message(openai_stub, job, profile):
    openai_stub.state.script(Reply(400, error_body("Invalid value for 'model': 'gpt-test' does not exist.")))
    with pytest.raises(DraftRejected) as raised:
        services.proposal_generate(job_id=job.id)
    assert (
        str(raised.value) == "OpenAI rejected the request (400): Invalid value for 'model': 'gpt-test' does not exist."
    )
    assert not ProposalVersion.objects.exists()


@pytest.mark.parametrize(
    ("status", "message"),
    [(429, "Rate limit reached for requests"), (500, "The server had an error"), (503, "Overloaded")],
)
def test_rate_limits_and_server_errors_are_transient(openai_stub, job, profile, status, message):
    openai_stub.state.script(Reply(status, error_body(message, kind="server_error")))
    with pytest.raises(DraftUnavailable, match=f"OpenAI returned {status}: {message}"):
        services.proposal_generate(job_id=job.id)
    assert len(openai_stub.state.requests) == 1  # the client itself does not retry: the queue does


def test_a_timeout_is_transient(openai_stub, job, profile, settings):
    settings.OPENAI_TIMEOUT = 0.3
    openai_stub.state.script(Reply(delay=1.5))
    with pytest.raises(DraftUnavailable, match="OpenAI could not be reached"):
        services.proposal_generate(job_id=job.id)


def test_without_an_api_key_it_says_how_to_configure(openai_stub, job, profile, settings):
    settings.OPENAI_API_KEY = ""
    with pytest.raises(NotConfigured) as raised:
        services.proposal_generate(job_id=job.id)
    assert str(raised.value) == "OpenAI is not configured: set OPENAI_API_KEY or PROPOSAL_GENERATOR=template"
    assert openai_stub.state.requests == []


def test_regeneration_sends_the_feedback_and_the_previous_text(openai_stub, job, profile):
    proposal = services.proposal_generate(job_id=job.id)
    openai_stub.state.text = "Second take, shorter."
    version = services.proposal_regenerate(proposal_id=proposal.id, feedback="Mention the 2 TB migration.")

    assert (version.number, version.text, version.feedback) == (
        2,
        "Second take, shorter.",
        "Mention the 2 TB migration.",
    )
    prompt = openai_stub.state.requests[-1]["json"]["messages"][1]["content"]
    assert "Mention the 2 TB migration." in prompt
    assert "# Previous version\n" + DEFAULT_TEXT in prompt
