"""batch_generate_proposals end to end by a real worker: picks the right jobs, caps the fan-out, drafts them."""

from __future__ import annotations

import pytest
from model_bakery import baker

from jobs.models import Job, JobStatus
from proposals.models import Proposal, ProposalVersion
from queue_app import services as queue
from queue_app.models import Task, TaskStatus
from tests.conftest import wait_for
from tests.proposals.conftest import worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def _finished(task_type: str) -> bool:
    tasks = Task.objects.filter(task_type=task_type)
    return tasks.exists() and not tasks.exclude(status=TaskStatus.COMPLETED).exists()


def test_a_batch_drafts_shortlisted_and_high_scoring_jobs_within_the_cap(processes, openai_stub, profile):
    shortlisted = baker.make(Job, title="Shortlisted", status=JobStatus.SHORTLISTED, score=50, passed_filters=True)
    high = baker.make(Job, title="High score", status=JobStatus.NEW, score=85, passed_filters=True)
    also_high = baker.make(Job, title="Also high", status=JobStatus.NEW, score=70, passed_filters=True)
    baker.make(Job, title="Low score", status=JobStatus.NEW, score=40, passed_filters=True)
    baker.make(Job, title="Filtered out", status=JobStatus.NEW, score=95, passed_filters=False)
    baker.make(Job, title="Rejected", status=JobStatus.REJECTED, score=99, passed_filters=True)
    done = baker.make(Job, title="Has one", status=JobStatus.SHORTLISTED, score=90, passed_filters=True)
    existing = baker.make(Proposal, job=done, current_version=1)
    baker.make(ProposalVersion, proposal=existing, number=1, text="Earlier draft", source="template")

    processes.worker(**worker_env(openai_stub, PROPOSAL_BATCH_CONCURRENCY="2", PROPOSAL_BATCH_MIN_SCORE="60"))
    first = queue.task_enqueue(task_type="batch_generate_proposals", payload={})

    wait_for(lambda: _finished("batch_generate_proposals") and _finished("generate_proposal"), timeout=60)
    first.refresh_from_db()
    progress = first.result
    assert progress["candidates"] == 3
    assert (progress["enqueued"], progress["remaining"], progress["stopped_by"]) == (2, 1, "concurrency_cap")
    # Shortlisted jobs first, then by score.
    assert progress["job_ids"] == [shortlisted.id, high.id]
    assert set(Proposal.objects.values_list("job_id", flat=True)) == {done.id, shortlisted.id, high.id}

    # The next run (hourly by default) picks up what the cap left over, and nothing twice.
    second = queue.task_enqueue(task_type="batch_generate_proposals", payload={})
    wait_for(lambda: Proposal.objects.filter(job=also_high).exists(), timeout=60, message="the third job drafted")
    wait_for(lambda: _finished("generate_proposal"), timeout=30)
    second.refresh_from_db()
    assert second.result["job_ids"] == [also_high.id]
    assert len(openai_stub.state.requests) == 3
    assert Task.objects.filter(task_type="generate_proposal").count() == 3
    for job in (shortlisted, high, also_high):
        job.refresh_from_db()
        assert job.status == JobStatus.PROPOSAL_DRAFTED
        assert Proposal.objects.get(job=job).versions.get().source == "openai"
    assert ProposalVersion.objects.get(proposal=existing).text == "Earlier draft"
