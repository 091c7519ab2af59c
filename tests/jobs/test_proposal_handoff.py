"""Discovery hands its top jobs to proposal generation only when that task type exists and a profile can write."""

from __future__ import annotations

import pytest
from model_bakery import baker

from jobs import services
from jobs.models import Job, SearchProfile
from proposals.models import FreelancerProfile
from queue_app import registry
from queue_app.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored_jobs():
    profile = SearchProfile.objects.create(name="p", handoff_top_n=2, handoff_min_score=50)
    jobs = [
        baker.make(Job, upwork_id=f"~01{i}", score=score, passed_filters=passed, profile=profile)
        for i, (score, passed) in enumerate([(90, True), (80, True), (95, False), (70, True), (40, True)])
    ]
    return profile, jobs


def test_top_n_passing_jobs_are_enqueued_once(scored_jobs, monkeypatch):
    profile, jobs = scored_jobs
    if "generate_proposal" not in registry.all_types():
        monkeypatch.setitem(
            registry._registry,
            "generate_proposal",
            registry.TaskType(name="generate_proposal", handler=lambda p, c: None),
        )
    ids = [job.id for job in jobs]
    baker.make(FreelancerProfile, name="Ann", is_default=True)
    handed = services.proposals_handoff(profile=profile, job_ids=ids).job_ids
    assert handed == [jobs[0].id, jobs[1].id]
    services.proposals_handoff(profile=profile, job_ids=ids)  # a second discovery: no duplicates
    tasks = Task.objects.filter(task_type="generate_proposal")
    assert sorted(task.payload["job_id"] for task in tasks) == sorted(handed)


def test_without_generate_proposal_the_handoff_is_skipped(scored_jobs, monkeypatch, caplog):
    profile, jobs = scored_jobs
    monkeypatch.delitem(registry._registry, "generate_proposal", raising=False)
    with caplog.at_level("INFO", logger="jobs.services"):
        assert services.proposals_handoff(profile=profile, job_ids=[job.id for job in jobs]).job_ids == []
    assert "generate_proposal is not registered" in caplog.text
    assert not Task.objects.exists()
