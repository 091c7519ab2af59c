"""The jobs and profiles API: filters, search, ordering, shortlist/reject actions, validation, authentication."""

from __future__ import annotations

from decimal import Decimal

import pytest
from model_bakery import baker
from rest_framework.test import APIClient

from jobs.models import BrowserSession, Job, JobStatus, SearchProfile
from queue_app.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs():
    return [
        baker.make(Job, upwork_id="~01a", title="Django API", score=91, job_type="hourly", hourly_max=Decimal("80")),
        baker.make(Job, upwork_id="~01b", title="WordPress fix", score=35, job_type="fixed", budget=Decimal("200")),
        baker.make(
            Job,
            upwork_id="~01c",
            title="Django admin",
            score=60,
            job_type="fixed",
            budget=Decimal("1500"),
            status=JobStatus.REJECTED,
        ),
    ]


def test_every_endpoint_requires_authentication(jobs):
    client = APIClient()
    for url in ["/api/jobs/jobs/", "/api/jobs/profiles/", "/api/jobs/sessions/", "/api/jobs/oauth/connect/"]:
        assert client.get(url).status_code in (401, 403), url
    assert client.post(f"/api/jobs/jobs/{jobs[0].id}/shortlist/").status_code in (401, 403)


def test_list_filters_by_score_status_and_budget(api_client, jobs):
    def ids(query: str) -> list[str]:
        return [row["upwork_id"] for row in api_client.get(f"/api/jobs/jobs/?{query}").json()["results"]]

    assert ids("") == ["~01a", "~01c", "~01b"]  # best score first
    assert ids("min_score=50&status=new") == ["~01a"]
    assert ids("min_budget=1000") == ["~01c"]
    assert ids("job_type=fixed&ordering=score") == ["~01b", "~01c"]
    assert ids("search=django&ordering=-score") == ["~01a", "~01c"]


def test_job_detail_explains_the_score(api_client):
    job = baker.make(
        Job,
        upwork_id="~01s",
        score=70,
        score_breakdown={"fit": {"value": 1.0, "weight": 30, "points": 30.0, "reason": "skills 2/2"}},
    )
    body = api_client.get(f"/api/jobs/jobs/{job.id}/").json()
    assert body["score_explanation"] == ["fit 30.0 pts (weight 30): skills 2/2"]


def test_shortlist_and_reject_actions_change_status(api_client, jobs):
    response = api_client.post(f"/api/jobs/jobs/{jobs[0].id}/shortlist/")
    assert response.status_code == 200 and response.json()["status"] == "shortlisted"
    response = api_client.post(f"/api/jobs/jobs/{jobs[0].id}/reject/")
    assert response.json()["status"] == "rejected"
    assert Job.objects.get(id=jobs[0].id).status == JobStatus.REJECTED


def test_a_transition_the_workflow_forbids_is_a_409(api_client, jobs):
    Job.objects.filter(id=jobs[1].id).update(status=JobStatus.APPLIED)
    response = api_client.post(f"/api/jobs/jobs/{jobs[1].id}/reject/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert api_client.post("/api/jobs/jobs/999999/shortlist/").status_code == 404


def test_profiles_crud_with_field_errors(api_client):
    created = api_client.post(
        "/api/jobs/profiles/",
        {"name": "Django", "keywords": ["django"], "strategies": ["keywords"], "score_weights": {"fit": 50}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    profile_id = created.json()["id"]
    bad = api_client.patch(
        f"/api/jobs/profiles/{profile_id}/",
        {"strategies": ["telepathy"], "score_weights": {"luck": 5}},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["field_errors"]) >= {"strategies", "score_weights"}
    assert api_client.patch(f"/api/jobs/profiles/{profile_id}/", {"enabled": False}, format="json").status_code == 200
    assert SearchProfile.objects.get(id=profile_id).enabled is False
    assert api_client.delete(f"/api/jobs/profiles/{profile_id}/").status_code == 204


def test_profile_discover_action_enqueues_job_discovery(api_client):
    profile = SearchProfile.objects.create(name="p", keywords=["python"])
    response = api_client.post(f"/api/jobs/profiles/{profile.id}/discover/")
    assert response.status_code == 202
    task = Task.objects.get(id=response.json()["id"])
    assert task.task_type == "job_discovery" and task.payload["profile_id"] == profile.id


def test_session_import_never_echoes_cookies(api_client):
    state = {"cookies": [{"name": "master_access_token", "value": "SECRET-COOKIE", "domain": "www.upwork.com"}]}
    response = api_client.post("/api/jobs/sessions/", {"name": "mine", "storage_state": state}, format="json")
    assert response.status_code == 201
    assert "SECRET-COOKIE" not in response.content.decode()
    assert "SECRET-COOKIE" not in api_client.get("/api/jobs/sessions/").content.decode()
    assert BrowserSession.objects.get().storage_state_dict()["cookies"][0]["value"] == "SECRET-COOKIE"


def test_session_import_refuses_a_password(api_client):
    state = {"cookies": [], "username": "me", "password": "hunter2"}
    response = api_client.post("/api/jobs/sessions/", {"name": "mine", "storage_state": state}, format="json")
    assert response.status_code == 400
    assert not BrowserSession.objects.exists()


def test_a_duplicate_profile_name_is_a_field_error(api_client):
    SearchProfile.objects.create(name="Django")
    response = api_client.post("/api/jobs/profiles/", {"name": "Django"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["field_errors"]
