"""A login wall or an unexpected page stops the attempt: needs attention, session flagged, nothing sent."""

from __future__ import annotations

import pytest
import requests

from applications import services
from applications.models import Application, ApplicationStatus
from jobs.models import BrowserSession, BrowserSessionStatus, Job
from tests.applications.conftest import make_application, submissions

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_logged_out_session_stops_at_the_login_wall(sandbox, browser_session):
    made = make_application(sandbox, 1)
    requests.post(f"{sandbox.url}/__sandbox__/logout-all", timeout=5)

    with pytest.raises(services.SubmissionStopped) as stopped:
        services.application_submit(application_id=made.application.id)

    assert stopped.value.code == "login_wall"
    application = Application.objects.get(id=made.application.id)
    assert application.status == ApplicationStatus.NEEDS_ATTENTION
    assert application.error.startswith("login_wall:")
    session = BrowserSession.objects.get(id=browser_session.id)
    assert session.status == BrowserSessionStatus.NEEDS_ATTENTION
    assert "login_wall" in session.attention_reason
    assert submissions(sandbox) == []


def test_an_unknown_page_stops_instead_of_guessing(sandbox, browser_session):
    made = make_application(sandbox, 1)
    Job.objects.filter(id=made.application.job_id).update(upwork_id="~01gone")  # the sandbox answers 404

    with pytest.raises(services.SubmissionStopped) as stopped:
        services.application_submit(application_id=made.application.id)

    assert stopped.value.code == "unexpected_page"
    application = Application.objects.get(id=made.application.id)
    assert application.status == ApplicationStatus.NEEDS_ATTENTION
    assert application.counts_toward_caps is False
    assert application.screenshots.filter(kind="attention").exists()
    # Another submission is refused until a person reactivates the session.
    other = make_application(sandbox, 2)
    with pytest.raises(services.GateRefused, match="No active browser session"):
        services.application_submit(application_id=other.application.id)
