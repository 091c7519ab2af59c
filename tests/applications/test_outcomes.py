"""Outcome tracking against the sandbox: simulated clients' events are recorded once each, from the proposals
pages and the API; a CAPTCHA stops a run cleanly; refunds are counted; silence becomes no_response."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests
from django.core.management import CommandError, call_command
from django.utils import timezone

from applications import services
from applications.health import applications_alerts
from applications.models import (
    Application,
    ApplicationStatus,
    Outcome,
    OutcomeEvent,
    OutcomeRun,
    OutcomeRunStatus,
)
from jobs.models import BrowserSession, BrowserSessionStatus
from queue_app.models import AuditEntry
from tests.applications.conftest import make_application

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def sent(sandbox, index: int, *, days_ago: float = 0.0, hours_after_post: float | None = None) -> Application:
    """An application for sandbox job `index` that was sent (and verified): the sandbox has the proposal."""
    made = make_application(sandbox, index)
    job = sandbox.state.jobs[index]
    if hours_after_post is not None:
        submitted_at = job.posted_at + timedelta(hours=hours_after_post)
    else:
        submitted_at = timezone.now() - timedelta(days=days_ago)
    submission = sandbox.state.record_submission(job, submitted_at=submitted_at)
    Application.objects.filter(id=made.application.id).update(
        status=ApplicationStatus.VERIFIED,
        submitted_at=submitted_at,
        verified_at=submitted_at,
        confirmation_reference=submission["reference"],
        connects_reserved=job.connects_required,
        connects_spent=job.connects_required,
        counts_toward_caps=True,
    )
    return Application.objects.select_related("job").get(id=made.application.id)


def configure(sandbox, **changes) -> None:
    response = requests.post(f"{sandbox.url}/__sandbox__/config", json=changes, timeout=5)
    assert response.status_code == 200, response.text


def script(sandbox, application: Application, events: list[dict]) -> None:
    response = requests.post(
        f"{sandbox.url}/__sandbox__/outcomes",
        json={"reference": application.confirmation_reference, "events": events},
        timeout=5,
    )
    assert response.status_code == 200, response.text


def sandbox_truth(sandbox) -> dict[str, list[tuple[str, datetime]]]:
    """What the simulated clients have done by the sandbox's clock, per proposal reference."""
    body = requests.get(f"{sandbox.url}/__sandbox__/outcomes", timeout=5).json()
    return {
        reference: [(e["kind"], datetime.fromisoformat(e["at"])) for e in events if e["visible"]]
        for reference, events in body["proposals"].items()
    }


def recorded(application: Application) -> list[tuple[str, datetime]]:
    return list(application.outcome_events.order_by("occurred_at", "id").values_list("kind", "occurred_at"))


def test_simulated_outcomes_arrive_over_time_and_are_recorded_once(sandbox, browser_session):
    applications = [sent(sandbox, index, hours_after_post=1) for index in range(8)]

    first = services.outcomes_track(sources=["browser"])
    assert first.status == OutcomeRunStatus.COMPLETED
    assert first.applications_checked == 8
    assert first.events_recorded == 0  # clients have not acted yet
    assert not OutcomeEvent.objects.exists()

    configure(sandbox, clock_offset_days=40)  # forty simulated days later
    truth = sandbox_truth(sandbox)
    expected_total = sum(len(events) for events in truth.values())
    assert expected_total > 0

    second = services.outcomes_track(sources=["browser"])
    assert (second.status, second.events_recorded) == (OutcomeRunStatus.COMPLETED, expected_total)
    kinds = set()
    for application in applications:
        application.refresh_from_db()
        assert recorded(application) == truth[application.confirmation_reference]
        assert all(event.source == "browser" for event in application.outcome_events.all())
        kinds.update(kind for kind, _ in truth[application.confirmation_reference])
        if truth[application.confirmation_reference]:
            assert application.outcome != Outcome.PENDING
            assert application.outcome_changed_at is not None
    assert "viewed" in kinds and len(kinds) >= 3  # more than views arrive: replies, closings, hires...

    # Run again (and again): nothing new, nothing doubled.
    third = services.outcomes_track(sources=["browser"])
    assert third.events_recorded == 0
    assert OutcomeEvent.objects.count() == expected_total
    assert OutcomeRun.objects.filter(status=OutcomeRunStatus.COMPLETED).count() == 3


def test_the_outcome_moves_forward_only_and_a_final_one_ends_tracking(sandbox, browser_session):
    hired = sent(sandbox, 0)
    script(
        sandbox,
        hired,
        [
            {"kind": "viewed", "after_hours": -1},
            {"kind": "replied", "after_hours": -0.5},
            {"kind": "interview", "after_hours": -0.2},
            {"kind": "hired", "after_hours": -0.1},
        ],
    )
    run = services.outcomes_track(sources=["browser"])
    hired.refresh_from_db()
    assert run.events_recorded == 4
    assert hired.outcome == Outcome.HIRED
    assert [kind for kind, _ in recorded(hired)] == ["viewed", "replied", "interview", "hired"]
    assert AuditEntry.objects.filter(action="application.outcome", object_id=str(hired.id)).count() == 1
    # Hired is final: the next run does not follow it.
    assert services.outcomes_track(sources=["browser"]).applications_checked == 0


def test_a_cancelled_post_refunds_its_connects_once(sandbox, browser_session):
    cancelled = sent(sandbox, 1)  # job 1 asks 8 Connects
    closed = sent(sandbox, 2)
    spent = cancelled.connects_spent
    assert spent == sandbox.state.jobs[1].connects_required > 0
    script(
        sandbox,
        cancelled,
        [
            {"kind": "viewed", "after_hours": 5},
            {"kind": "job_cancelled", "after_hours": 72, "connects_refunded": spent},
        ],
    )
    script(sandbox, closed, [{"kind": "job_closed", "after_hours": 48}])  # someone else hired: no refund
    configure(sandbox, clock_offset_days=5)

    run = services.outcomes_track(sources=["browser"])
    cancelled.refresh_from_db()
    closed.refresh_from_db()
    assert (cancelled.outcome, cancelled.connects_refunded) == (Outcome.JOB_CANCELLED, spent)
    assert (closed.outcome, closed.connects_refunded) == (Outcome.JOB_CLOSED, 0)
    assert run.connects_refunded == spent

    # The same page read again (both are final now, so force a read of the same rows): no second refund.
    Application.objects.filter(id=cancelled.id).update(outcome=Outcome.VIEWED)
    again = services.outcomes_track(sources=["browser"])
    cancelled.refresh_from_db()
    assert (again.connects_refunded, again.events_recorded) == (0, 0)
    assert cancelled.connects_refunded == spent


def test_a_captcha_during_tracking_stops_it_cleanly(sandbox, browser_session):
    applications = [sent(sandbox, index, days_ago=30) for index in range(4)]
    for application in applications:
        script(sandbox, application, [{"kind": "viewed", "after_hours": 3}])
    configure(sandbox, proposals_per_page=2, captcha_after_pages=1)  # page 1 is served, page 2 is a CAPTCHA

    with pytest.raises(services.OutcomeTrackingStopped) as stopped:
        services.outcomes_track(sources=["browser"])

    assert stopped.value.code == "captcha"
    run = OutcomeRun.objects.get()
    assert (run.status, run.stop_reason) == (OutcomeRunStatus.STOPPED, "captcha")
    assert run.finished_at is not None and run.events_recorded == 2
    assert run.screenshot and run.screenshot.read(8) == b"\x89PNG\r\n\x1a\n"  # the CAPTCHA page, as evidence
    # Page 1's rows are recorded; page 2's are not, and nothing is guessed for them (no no_response either,
    # although they were sent 30 days ago).
    states = [(a.outcome, a.outcome_events.count()) for a in Application.objects.order_by("submitted_at", "id")]
    assert sorted(states) == sorted(
        [(Outcome.VIEWED, 1), (Outcome.VIEWED, 1), (Outcome.PENDING, 0), (Outcome.PENDING, 0)]
    )
    assert not Application.objects.filter(outcome_checked_at__isnull=False).exists()
    assert set(Application.objects.values_list("status", flat=True)) == {ApplicationStatus.VERIFIED}
    session = BrowserSession.objects.get(id=browser_session.id)
    assert session.status == BrowserSessionStatus.NEEDS_ATTENTION and "captcha" in session.attention_reason
    checks: dict = {}
    assert "outcome_tracking_stopped" in [alert.code for alert in applications_alerts(checks)]
    assert checks["outcome_tracking_last_run"] == "stopped"

    # With the session fixed and the wall gone, the next run picks up the rest and the alert clears.
    configure(sandbox, captcha=False, captcha_after_pages=0)
    BrowserSession.objects.filter(id=browser_session.id).update(status=BrowserSessionStatus.ACTIVE)
    run = services.outcomes_track(sources=["browser"])
    assert (run.status, run.events_recorded) == (OutcomeRunStatus.COMPLETED, 2)
    assert set(Application.objects.values_list("outcome", flat=True)) == {Outcome.VIEWED}
    assert "outcome_tracking_stopped" not in [alert.code for alert in applications_alerts({})]


def test_no_response_after_the_configured_days_then_a_late_event_still_counts(sandbox, browser_session, settings):
    settings.OUTCOME_NO_RESPONSE_DAYS = 14
    silent = sent(sandbox, 3, days_ago=20)
    recent = sent(sandbox, 4, days_ago=3)
    for application in (silent, recent):
        script(sandbox, application, [])

    services.outcomes_track(sources=["browser"])
    services.outcomes_track(sources=["browser"])  # twice: recorded once
    silent.refresh_from_db()
    recent.refresh_from_db()
    assert silent.outcome == Outcome.NO_RESPONSE
    event = silent.outcome_events.get()
    assert (event.kind, event.source) == ("no_response", "system")
    assert event.occurred_at == silent.submitted_at + timedelta(days=14)
    assert (recent.outcome, recent.outcome_events.count()) == (Outcome.PENDING, 0)

    script(sandbox, silent, [{"kind": "viewed", "after_hours": 24 * 16}, {"kind": "replied", "after_hours": 24 * 17}])
    services.outcomes_track(sources=["browser"])
    silent.refresh_from_db()
    assert silent.outcome == Outcome.REPLIED
    assert [kind for kind, _ in recorded(silent)] == ["no_response", "viewed", "replied"]


@pytest.fixture
def api_token(sandbox, settings):
    from jobs import services as jobs_services
    from tests.jobs.conftest import authorization_code

    settings.UPWORK_CLIENT_ID = "sandbox-client"
    settings.UPWORK_CLIENT_SECRET = "sandbox-secret"
    store: dict = {}
    code, state = authorization_code(sandbox, store)
    return jobs_services.oauth_connect(code=code, state=state, store=store)


def test_the_official_api_gives_the_latest_status_and_the_pages_fill_in_the_steps(sandbox, browser_session, api_token):
    hired = sent(sandbox, 5, days_ago=2)
    waiting = sent(sandbox, 6, days_ago=1)
    script(
        sandbox,
        hired,
        [
            {"kind": "viewed", "after_hours": 2},
            {"kind": "replied", "after_hours": 6},
            {"kind": "interview", "after_hours": 30},
            {"kind": "offer", "after_hours": 50},
            {"kind": "hired", "after_hours": 60},
        ],
    )
    script(sandbox, waiting, [{"kind": "viewed", "after_hours": 3}])
    graphql_before = sandbox.state.counters["graphql"]

    run = services.outcomes_track(sources=["api"])
    assert run.status == OutcomeRunStatus.COMPLETED and sandbox.state.counters["graphql"] > graphql_before
    hired.refresh_from_db()
    assert hired.outcome == Outcome.INTERVIEW
    interview = hired.outcome_events.get()  # the API gives only the latest status, with its time
    assert (interview.kind, interview.source) == ("interview", "api")
    assert interview.occurred_at == hired.submitted_at.replace(microsecond=0) + timedelta(hours=30)
    assert not OutcomeEvent.objects.filter(application=waiting).exists()  # the API never tells "viewed"

    configure(sandbox, clock_offset_days=2)  # the offer and the hire happen
    both = services.outcomes_track()
    assert both.sources == ["api", "browser"]
    hired.refresh_from_db()
    assert hired.outcome == Outcome.HIRED
    # The pages add the steps the API skipped; what the API recorded is not recorded twice.
    assert [kind for kind, _ in recorded(hired)] == ["viewed", "replied", "interview", "offer", "hired"]
    sources = dict(hired.outcome_events.values_list("kind", "source"))
    assert (sources["interview"], sources["hired"], sources["viewed"], sources["offer"]) == (
        "api",
        "api",
        "browser",
        "browser",
    )
    assert [kind for kind, _ in recorded(Application.objects.get(id=waiting.id))] == ["viewed"]


def test_nothing_to_read_fails_the_run_with_a_sentence(sandbox, settings):
    sent(sandbox, 7, days_ago=30)
    settings.UPWORK_CLIENT_ID = ""
    with pytest.raises(services.OutcomeTrackingUnavailable, match="import-session"):
        services.outcomes_track()
    run = OutcomeRun.objects.get()
    assert run.status == OutcomeRunStatus.FAILED and "not connected" in run.error
    assert not OutcomeEvent.objects.exists()  # no no_response without a read


def test_cli_runs_once_and_refuses_bad_input(sandbox, browser_session, capsys):
    application = sent(sandbox, 0)
    script(sandbox, application, [{"kind": "viewed", "after_hours": -1}])
    call_command("applications", "track-outcomes", "--source", "browser")
    out = capsys.readouterr().out
    assert "1 application(s) followed, 1 new event(s)" in out
    with pytest.raises(CommandError):
        call_command("applications", "track-outcomes", "--source", "carrier-pigeon")


def test_api_and_admin_show_the_outcome_and_its_events(sandbox, browser_session, api_client, admin_client):
    application = sent(sandbox, 0)
    script(sandbox, application, [{"kind": "viewed", "after_hours": -1}, {"kind": "replied", "after_hours": -0.5}])
    services.outcomes_track(sources=["browser"])

    base = "/api/applications/applications/"
    body = api_client.get(f"{base}{application.id}/").json()
    assert body["outcome"] == "replied" and body["connects_spent"] == application.connects_spent
    assert [event["kind"] for event in body["outcome_events"]] == ["viewed", "replied"]
    assert body["connects_refunded"] == 0
    listed = api_client.get(base, {"outcome": "replied"}).json()
    assert [row["id"] for row in listed["results"]] == [application.id]
    assert api_client.get(base, {"outcome": "nonsense"}).status_code == 400
    # Read-only: the API has no way to write an outcome.
    assert api_client.patch(f"{base}{application.id}/", {"outcome": "hired"}, format="json").status_code == 405

    page = admin_client.get(f"/admin/applications/application/{application.id}/change/")
    assert page.status_code == 200 and b"Client replied" in page.content and b"outcome event" in page.content
    changelist = admin_client.get("/admin/applications/application/", {"outcome__exact": "replied"})
    assert changelist.status_code == 200 and application.job.title[:20].encode() in changelist.content
    assert (
        application.job.title[:20].encode()
        not in admin_client.get("/admin/applications/application/", {"outcome__exact": "hired"}).content
    )
    runs = admin_client.get("/admin/applications/outcomerun/")
    assert runs.status_code == 200
