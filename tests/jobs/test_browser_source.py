"""Real Playwright (Debian's Chromium) against the sandbox: search, pagination, every detail field, and walls."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from core.errors import PermanentTaskError
from jobs import services, tasks
from jobs.errors import DiscoveryBlocked, NeedsAttention, NoUsableSession
from jobs.models import BrowserSession, BrowserSessionStatus, SearchProfile
from jobs.sources.base import SearchSpec
from queue_app.registry import TaskContext

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def _money(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def test_search_paginates_and_reads_every_detail_field(sandbox, browser_session, settings):
    sandbox.state.config["per_page"] = 4
    settings.JOBS_BROWSER_MAX_PAGES = 3
    settings.JOBS_BROWSER_MAX_DETAILS = 20
    run = services.search_run(
        specs=[
            SearchSpec(strategy="keywords", query="python", max_pages=2),  # 9 jobs on 3 pages; capped at 2
            SearchSpec(strategy="skills", skills=("Apex",)),  # 3 jobs on one page
        ],
        source="browser",
    )
    python_jobs = [j for j in sandbox.state.jobs if "python" in (j.title + j.description + " ".join(j.skills)).lower()]
    assert len(python_jobs) == 9
    expected = {j.ciphertext: j for j in python_jobs[:8] + [j for j in sandbox.state.jobs if "Apex" in j.skills]}
    assert run.source == "browser"
    assert run.pages == 2 + 1
    assert {r.upwork_id for r in run.records} == set(expected)
    for record in run.records:
        job = expected[record.upwork_id]
        assert record.url == f"{sandbox.url}/jobs/{job.ciphertext}"
        assert (record.title, record.description, record.category) == (job.title, job.description, job.category)
        assert record.job_type == job.job_type
        assert (record.budget, record.hourly_min, record.hourly_max) == (
            _money(job.budget),
            _money(job.hourly_min),
            _money(job.hourly_max),
        )
        assert record.skills == job.skills
        assert record.screening_questions == job.screening_questions
        assert (record.experience_level, record.duration, record.workload) == (
            job.experience_level,
            job.duration,
            job.workload,
        )
        assert record.client_country == job.client_country
        assert record.client_payment_verified is job.payment_verified
        assert record.client_total_spent == _money(job.client_total_spent)
        assert record.client_hires == job.client_hires
        assert record.client_rating == (
            None if job.client_rating is None else _money(job.client_rating).quantize(Decimal("0.01"))
        )
        assert record.client_reviews == job.client_reviews
        assert record.proposals_tier == job.proposals_tier
        assert record.connects_required == job.connects_required
        assert record.posted_at == job.posted_at
    assert BrowserSession.objects.get().last_used_at is not None


def test_captcha_fails_discovery_permanently_and_marks_the_session(sandbox, browser_session):
    profile = SearchProfile.objects.create(name="p", keywords=["python", "react"], source="browser")
    requests.post(f"{sandbox.url}/__sandbox__/config", json={"captcha": True}, timeout=5)
    loads_before = sandbox.state.counters["pages"]
    context = TaskContext(task_id="t1", task_type="job_discovery", attempt=1, max_retries=3)
    with pytest.raises(DiscoveryBlocked) as caught:
        tasks.job_discovery({"profile_id": profile.id}, context)
    assert isinstance(caught.value, PermanentTaskError)  # the queue fails it at once, no retries
    assert caught.value.wall.reason == "captcha"
    message = str(caught.value)
    assert f"Upwork showed a CAPTCHA at {sandbox.url}/" in message
    assert f"Browser session {browser_session.id} is marked needs attention" in message
    assert f"POST /api/jobs/sessions/{browser_session.id}/reactivate/" in message
    assert "'Mark active again'" in message and "manage.py queue retry t1" in message
    assert sandbox.state.counters["pages"] - loads_before <= 2  # each search stopped at its first page
    browser_session.refresh_from_db()
    assert browser_session.status == BrowserSessionStatus.NEEDS_ATTENTION
    assert browser_session.attention_reason.startswith("captcha")
    # Nothing retries blindly: with the session parked, the next run does not even open a page.
    loads_before = sandbox.state.counters["pages"]
    with pytest.raises(NoUsableSession):
        services.search_run(specs=[SearchSpec(strategy="keywords", query="python")], source="browser")
    assert sandbox.state.counters["pages"] == loads_before


def test_logged_out_session_hits_the_login_wall(sandbox, browser_session):
    requests.post(f"{sandbox.url}/__sandbox__/logout-all", timeout=5)
    with pytest.raises(NeedsAttention) as caught:
        services.search_run(specs=[SearchSpec(strategy="keywords", query="python")], source="browser")
    assert caught.value.reason == "login_wall"
    assert caught.value.retryable is False
    browser_session.refresh_from_db()
    assert browser_session.status == BrowserSessionStatus.NEEDS_ATTENTION
    assert "/ab/account-security/login" in browser_session.attention_url


def test_an_unrecognised_page_stops_instead_of_guessing(sandbox, browser_session):
    sandbox.state.config["broken_layout"] = True
    with pytest.raises(NeedsAttention) as caught:
        services.search_run(specs=[SearchSpec(strategy="keywords", query="python")], source="browser")
    assert caught.value.reason == "unexpected_page"
    browser_session.refresh_from_db()
    assert browser_session.status == BrowserSessionStatus.NEEDS_ATTENTION


def test_jobs_read_before_a_wall_are_kept(sandbox, browser_session, settings):
    """A CAPTCHA after three pages (two result pages, one detail): listed jobs are stored and scored, then it stops."""
    sandbox.state.config.update(per_page=4, captcha_after_pages=3)
    profile = SearchProfile.objects.create(name="p", keywords=["salesforce"], source="browser")
    context = TaskContext(task_id="t2", task_type="job_discovery", attempt=1, max_retries=3)
    with pytest.raises(DiscoveryBlocked) as caught:
        tasks.job_discovery({"profile_id": profile.id}, context)
    assert caught.value.wall.reason == "captcha" and caught.value.wall.saved == 6
    assert "6 job(s) read before the stop were saved" in str(caught.value)
    stored = profile.jobs.all()
    assert stored.count() == 6 and not stored.filter(score__isnull=True).exists()
    assert stored.filter(connects_required__isnull=False).count() == 1  # the one detail page read
