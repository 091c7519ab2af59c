"""Admin polish: list fields typed as text, money with its currency, read-only pages without Save/Delete,
plural names, short list columns, and the missing actions (generate a proposal, create an application)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from model_bakery import baker

from applications.models import Application, ApplicationStatus
from core.models import AuditEntry
from jobs.models import Job, SearchProfile, UpworkOAuthToken
from jobs.services import browser_session_import
from proposals.models import FreelancerProfile
from queue_app.models import Task
from tests.applications.conftest import make_application
from tests.console.conftest import draft_for, good_job
from upwork_automation.console.display import money
from upwork_automation.console.forms import ListField

pytestmark = pytest.mark.django_db

LONG_TITLE = (
    "Senior Django and PostgreSQL engineer to rebuild the reporting pipeline of a logistics platform "
    "with Celery, Redis and a React front end"
)


def test_freelancer_profile_accepts_python_comma_django(boss_client):
    response = boss_client.post(
        "/admin/proposals/freelancerprofile/add/",
        {
            "name": "Ada",
            "title": "Django developer",
            "skills": "Python, Django , PostgreSQL,, Python",
            "hourly_rate": "60",
            "bio": "",
            "achievements": "Cut page load from 4 s to 0.8 s, twice\nShipped a payments API",
            "sample_letter": "",
            "writing_rules": "",
            "tone": "friendly",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    profile = FreelancerProfile.objects.get(name="Ada")
    assert profile.skills == ["Python", "Django", "PostgreSQL"]
    assert profile.achievements == ["Cut page load from 4 s to 0.8 s, twice", "Shipped a payments API"]

    page = boss_client.get(f"/admin/proposals/freelancerprofile/{profile.id}/change/").content.decode()
    assert 'value="Python, Django, PostgreSQL"' in page
    assert "Separate items with commas" in page


def test_search_profile_lists_and_strategies_are_typed_with_commas_and_checked(boss_client):
    data = {
        "name": "Django backend",
        "enabled": "on",
        "keywords": "django api, fastapi",
        "skills": "Python, Django",
        "saved_searches": "django AND postgres\ncelery",
        "categories": "",
        "strategies": "keywords, skills",
        "source": "auto",
        "excluded_words": "wordpress, php",
        "excluded_countries": "",
        "require_payment_verified": "on",
        "score_weights": "{}",
        "handoff_top_n": "0",
        "handoff_min_score": "60",
        "poll_seconds": "60",  # the add form shows the default; a browser sends it
    }
    bad = boss_client.post("/admin/jobs/searchprofile/add/", {**data, "strategies": "keywords, telepathy"})
    assert bad.status_code == 200
    assert "Unknown: telepathy." in bad.content.decode()

    response = boss_client.post("/admin/jobs/searchprofile/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    profile = SearchProfile.objects.get(name="Django backend")
    assert profile.keywords == ["django api", "fastapi"]
    assert profile.skills == ["Python", "Django"]
    assert profile.saved_searches == ["django AND postgres", "celery"]
    assert profile.excluded_words == ["wordpress", "php"]
    assert profile.strategies == ["keywords", "skills"]


def test_attachment_skills_are_typed_with_commas(boss_client):
    page = boss_client.get("/admin/proposals/attachment/add/").content.decode()
    assert "Separate items with commas" in page


def test_list_field_still_reads_a_pasted_json_list():
    assert ListField().clean('["Python", "Django"]') == ["Python", "Django"]
    assert ListField(required=False).clean("") == []


def test_money_is_shown_with_its_currency():
    assert money(Decimal("140000.00")) == "$140,000"
    assert money(Decimal("55.50"), per_hour=True) == "$55.50/h"
    assert money(None) == "-"


def test_job_list_and_page_show_money_formatted_and_short_titles(boss_client):
    job = baker.make(
        Job,
        title=LONG_TITLE,
        job_type="fixed",
        budget=Decimal("140000.00"),
        client_total_spent=Decimal("25000.00"),
        score=80,
    )
    listing = boss_client.get("/admin/jobs/job/").content.decode()
    assert "$140,000" in listing and "140000.00" not in listing
    assert f'title="{LONG_TITLE}"' in listing  # the whole title in the tooltip
    assert f">{LONG_TITLE}<" not in listing  # ...not in the cell

    page = boss_client.get(f"/admin/jobs/job/{job.id}/change/").content.decode()
    assert "$140,000" in page and "$25,000" in page
    assert "140000.00" not in page


def test_read_only_pages_have_no_save_and_no_delete(boss_client):
    job = good_job()
    session = browser_session_import(
        name="s", storage_state={"cookies": [{"name": "sid", "value": "v", "domain": "upwork.com"}]}
    )
    token = UpworkOAuthToken.objects.create(account="me", access_token="a", refresh_token="r")
    for url in (
        f"/admin/jobs/job/{job.id}/change/",
        f"/admin/jobs/browsersession/{session.id}/change/",
        f"/admin/jobs/upworkoauthtoken/{token.id}/change/",
    ):
        page = boss_client.get(url).content.decode()
        assert 'name="_save"' not in page, url
        assert 'name="_continue"' not in page, url
        assert "deletelink" not in page, url
    version = draft_for(good_job(title="Versioned")).versions.get()
    page = boss_client.get(f"/admin/proposals/proposalversion/{version.id}/change/").content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page


def test_plural_names_read_correctly_on_the_index(boss_client):
    page = boss_client.get("/admin/").content.decode()
    for name in ("Audit entries", "Worker processes", "Upwork OAuth tokens"):
        assert f">{name}<" in page, name
    for wrong in ("Audit entrys", "Worker processs", "Upwork o auth tokens"):
        assert wrong not in page


def test_job_page_generate_proposal_button_posts_and_queues(boss_client, boss):
    job = good_job()
    page = boss_client.get(f"/admin/jobs/job/{job.id}/change/").content.decode()
    url = reverse("admin:jobs_job_generate_proposal", args=[job.id])
    assert f'action="{url}"' in page and "Generate proposal" in page

    assert boss_client.get(url).status_code == 405
    response = boss_client.post(url)
    assert response.status_code == 302
    task = Task.objects.get(task_type="generate_proposal")
    assert task.payload["job_id"] == job.id
    assert AuditEntry.objects.filter(action="task.enqueue", object_id=str(task.id), actor=boss).exists()

    draft_for(job)
    page = boss_client.get(f"/admin/jobs/job/{job.id}/change/").content.decode()
    assert "Review its proposal" in page and f'action="{url}"' not in page


def test_job_list_action_generates_proposals(boss_client):
    jobs = [good_job(), good_job(title="Other")]
    boss_client.post(
        "/admin/jobs/job/", {"action": "generate_proposal", "_selected_action": [j.id for j in jobs]}, follow=True
    )
    assert sorted(t.payload["job_id"] for t in Task.objects.filter(task_type="generate_proposal")) == sorted(
        j.id for j in jobs
    )


def test_generate_needs_the_permission(viewer_client):
    job = good_job()
    assert viewer_client.post(reverse("admin:jobs_job_generate_proposal", args=[job.id])).status_code == 403
    assert not Task.objects.exists()


def test_application_add_page_creates_one_from_an_approved_proposal(sandbox, boss_client, boss):
    made = make_application(sandbox, 1)
    Application.objects.filter(id=made.application.id).delete()

    form = boss_client.get("/admin/applications/application/add/")
    assert form.status_code == 200
    assert f"#{made.proposal.id} {made.proposal.job.title}" in form.content.decode()

    response = boss_client.post(
        "/admin/applications/application/add/", {"proposal": made.proposal.id, "bid_amount": "450"}
    )
    application = Application.objects.get(proposal=made.proposal)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:applications_application_change", args=[application.id])
    assert application.status == ApplicationStatus.AWAITING_APPROVAL
    assert application.bid_amount == Decimal("450.00")
    assert AuditEntry.objects.filter(action="application.create", actor=boss).exists()

    # The proposal has its application now: it is no longer offered.
    again = boss_client.post("/admin/applications/application/add/", {"proposal": made.proposal.id})
    assert again.status_code == 200 and "Select a valid choice" in again.content.decode()


def test_proposal_action_creates_applications(sandbox, boss_client):
    made = make_application(sandbox, 1)
    Application.objects.filter(id=made.application.id).delete()
    boss_client.post(
        "/admin/proposals/proposal/", {"action": "create_application", "_selected_action": [made.proposal.id]}
    )
    assert Application.objects.filter(proposal=made.proposal).exists()


def test_application_list_shows_the_bid_with_its_currency(sandbox, boss_client):
    make_application(sandbox, 1, bid="1500.00")
    listing = boss_client.get("/admin/applications/application/").content.decode()
    assert "$1,500" in listing and "1500.00" not in listing
