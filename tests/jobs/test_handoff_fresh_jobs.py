"""Discovery drafts only jobs first seen in its own run, never one with a proposal, and never without a profile."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from model_bakery import baker

from jobs import services
from jobs.models import Job, SearchProfile
from proposals.models import FreelancerProfile, Proposal
from queue_app.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def search_profile(sandbox, api_token) -> SearchProfile:
    return SearchProfile.objects.create(
        name="Python",
        keywords=["python"],
        strategies=["keywords"],
        source="api",
        require_payment_verified=False,
        handoff_top_n=3,
        handoff_min_score=0,
    )


def _drafting_tasks() -> list[int]:
    return sorted(t.payload["job_id"] for t in Task.objects.filter(task_type="generate_proposal"))


def test_a_second_run_hands_over_no_job_it_saw_before(search_profile):
    baker.make(FreelancerProfile, name="Ann", is_default=True)
    first = services.discovery_run(profile_id=search_profile.id)
    assert first["created"] > 3 and len(first["handed_to_proposals"]) == 3
    assert _drafting_tasks() == sorted(first["handed_to_proposals"])

    second = services.discovery_run(profile_id=search_profile.id)

    assert second["created"] == 0 and second["updated"] == first["created"]
    assert second["handed_to_proposals"] == []  # re-seen jobs are not this run's
    assert _drafting_tasks() == sorted(first["handed_to_proposals"])


def test_a_re_seen_job_is_not_handed_over_even_when_it_was_never_offered(search_profile):
    baker.make(FreelancerProfile, name="Ann", is_default=True)
    SearchProfile.objects.filter(id=search_profile.id).update(handoff_top_n=0)
    services.discovery_run(profile_id=search_profile.id)  # a run that hands nothing over
    SearchProfile.objects.filter(id=search_profile.id).update(handoff_top_n=3)

    result = services.discovery_run(profile_id=search_profile.id)

    assert result["handed_to_proposals"] == [] and not Task.objects.filter(task_type="generate_proposal").exists()


def test_a_job_with_a_proposal_is_never_handed_over(search_profile):
    baker.make(FreelancerProfile, name="Ann", is_default=True)
    job = baker.make(Job, upwork_id="~01chosen", score=99, passed_filters=True)
    baker.make(Proposal, job=job)
    other = baker.make(Job, upwork_id="~01other", score=50, passed_filters=True)

    handoff = services.proposals_handoff(profile=search_profile, job_ids=[job.id, other.id])

    assert handoff.job_ids == [other.id]


def test_without_a_freelancer_profile_drafting_is_skipped_with_a_note(search_profile):
    assert not FreelancerProfile.objects.exists()

    result = services.discovery_run(profile_id=search_profile.id)

    assert result["created"] > 0
    assert result["handed_to_proposals"] == []
    assert "no default freelancer profile" in result["handoff_note"]
    assert not Task.objects.filter(task_type="generate_proposal").exists()


def test_jobs_search_says_honestly_that_nothing_went_to_drafting(search_profile):
    out, err = StringIO(), StringIO()
    call_command("jobs", "search", "--profile", str(search_profile.id), stdout=out, stderr=err)
    result = json.loads(out.getvalue())
    assert result["handed_to_proposals"] == []
    assert "Drafting skipped" in err.getvalue() and "no default freelancer profile" in err.getvalue()


def test_jobs_search_names_the_jobs_it_queued_for_drafting(search_profile):
    baker.make(FreelancerProfile, name="Ann", is_default=True)
    out, err = StringIO(), StringIO()
    call_command("jobs", "search", "--profile", str(search_profile.id), stdout=out, stderr=err)
    handed = json.loads(out.getvalue())["handed_to_proposals"]
    assert len(handed) == 3
    assert f"Queued drafting for 3 job(s) first seen in this run: {', '.join(map(str, handed))}" in err.getvalue()
