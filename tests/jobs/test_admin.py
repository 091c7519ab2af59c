"""Admin pages render, show the score readably, and their actions go through the services."""

from __future__ import annotations

import pytest
from model_bakery import baker

from jobs import services
from jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="admin", password="pw", email="a@example.com")
    client.force_login(admin)
    return client


def test_job_pages_render_with_filters_and_the_score_table(staff_client):
    job = baker.make(
        Job,
        upwork_id="~01adm",
        title="Django API",
        score=77,
        score_breakdown={"fit": {"value": 1.0, "weight": 30, "points": 30.0, "reason": "skills 3/3"}},
    )
    listing = staff_client.get("/admin/jobs/job/?score_band=60-79&budget_band=fixed_500_plus")
    assert listing.status_code == 200
    detail = staff_client.get(f"/admin/jobs/job/{job.id}/change/").content.decode()
    assert "skills 3/3" in detail and "Total: <b>77</b>" in detail


def test_shortlist_action_calls_the_service(staff_client):
    job = baker.make(Job, upwork_id="~01act")
    response = staff_client.post("/admin/jobs/job/", {"action": "shortlist", "_selected_action": [job.id]}, follow=True)
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == JobStatus.SHORTLISTED


def test_session_and_profile_pages_never_show_cookies(staff_client):
    session = services.browser_session_import(
        name="s", storage_state={"cookies": [{"name": "sid", "value": "TOPSECRET", "domain": "upwork.com"}]}
    )
    page = staff_client.get(f"/admin/jobs/browsersession/{session.id}/change/").content.decode()
    assert "TOPSECRET" not in page
    assert staff_client.get("/admin/jobs/searchprofile/add/").status_code == 200
    assert staff_client.get("/admin/jobs/upworkoauthtoken/").status_code == 200
