"""generate_proposal run by a real worker: OpenAI's 429 and 500 retry with the queue's backoff, a 400 fails at once."""

from __future__ import annotations

import pytest

from proposals.models import Proposal
from queue_app import services as queue
from queue_app.models import TaskStatus
from tests.conftest import wait_for
from tests.proposals.conftest import Reply, error_body, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def _reload(task):
    task.refresh_from_db()
    return task


def test_429_then_500_are_retried_by_the_queue_then_the_draft_is_saved(processes, openai_stub, job, profile):
    openai_stub.state.script(
        Reply(429, error_body("Rate limit reached for gpt-test", kind="requests", code="rate_limit_exceeded")),
        Reply(500, error_body("The server had an error while processing your request.", kind="server_error")),
    )
    task = queue.task_enqueue(task_type="generate_proposal", payload={"job_id": job.id}, max_retries=3)
    processes.worker(**worker_env(openai_stub))

    wait_for(lambda: _reload(task).status == TaskStatus.COMPLETED, timeout=40, message="drafted after two retries")
    assert task.attempts == 3
    assert len(openai_stub.state.requests) == 3
    proposal = Proposal.objects.get(job=job)
    assert task.result["proposal_id"] == proposal.id
    assert task.result["created_by_this_task"] is True
    assert proposal.versions.get().task_id == task.id


def test_a_400_fails_the_task_at_once_with_openais_message(processes, openai_stub, job, profile):
    openai_stub.state.script(Reply(400, error_body("This model's maximum context length is 128000 tokens.")))
    task = queue.task_enqueue(task_type="generate_proposal", payload={"job_id": job.id}, max_retries=3)
    processes.worker(**worker_env(openai_stub))

    wait_for(lambda: _reload(task).status == TaskStatus.FAILED, timeout=30, message="failed for good")
    assert task.attempts == 1
    assert task.error_type == "DraftRejected"
    assert task.error_message == (
        "OpenAI rejected the request (400): This model's maximum context length is 128000 tokens."
    )
    assert len(openai_stub.state.requests) == 1
    assert not Proposal.objects.exists()


def test_without_an_api_key_the_task_fails_with_the_not_configured_message(processes, openai_stub, job, profile):
    task = queue.task_enqueue(task_type="generate_proposal", payload={"job_id": job.id}, max_retries=3)
    processes.worker(**worker_env(openai_stub, OPENAI_API_KEY=""))

    wait_for(lambda: _reload(task).status == TaskStatus.FAILED, timeout=30, message="failed: not configured")
    assert task.attempts == 1
    assert task.error_message == "OpenAI is not configured: set OPENAI_API_KEY or PROPOSAL_GENERATOR=template"
    assert openai_stub.state.requests == []
