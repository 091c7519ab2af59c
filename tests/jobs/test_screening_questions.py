"""Screening questions are captured at discovery (API and browser pages), stored on the job and shown."""

from __future__ import annotations

import pytest
from model_bakery import baker

from jobs import services
from jobs.models import Job, SearchProfile
from jobs.sources.base import SearchSpec

pytestmark = pytest.mark.django_db


def test_discovery_through_the_api_stores_each_jobs_questions(sandbox, api_token):
    profile = SearchProfile.objects.create(name="Python", keywords=["python"], strategies=["keywords"], source="api")
    services.discovery_run(profile_id=profile.id)
    expected = {job.ciphertext: job.screening_questions for job in sandbox.state.jobs}
    stored = dict(Job.objects.values_list("upwork_id", "screening_questions"))
    assert stored and all(stored[upwork_id] == expected[upwork_id] for upwork_id in stored)
    assert any(stored.values()), "the sandbox asks questions on every third job"


def test_a_later_sighting_with_questions_fills_them_in(sandbox, api_token):
    job = sandbox.state.jobs[0]
    baker.make(Job, upwork_id=job.ciphertext, title=job.title, screening_questions=[])
    services.job_search_run(spec=SearchSpec(strategy="search", query=job.title), source="api")
    assert Job.objects.get(upwork_id=job.ciphertext).screening_questions == job.screening_questions


def test_the_job_admin_page_lists_the_questions(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="admin", password="pw", email="a@example.com")
    client.force_login(admin)
    job = baker.make(Job, upwork_id="~01q", screening_questions=["What is your availability?"])
    page = client.get(f"/admin/jobs/job/{job.id}/change/").content.decode()
    assert "<li>What is your availability?</li>" in page


def test_the_job_api_returns_the_questions(api_client):
    job = baker.make(Job, upwork_id="~01q", screening_questions=["What is your availability?"])
    assert api_client.get(f"/api/jobs/jobs/{job.id}/").json()["screening_questions"] == ["What is your availability?"]
