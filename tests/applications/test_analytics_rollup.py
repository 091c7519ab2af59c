"""The analytics rollup (applications/analytics/rollup.py): the page's figures from per-day counts equal the figures
counted live from the applications, after a rebuild from scratch and after each kind of write (issue 22)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from model_bakery import baker

from applications.analytics import rollup, selectors
from applications.models import AnalyticsDay, AnalyticsRollup, Application
from applications.services.outcomes import outcome_events_record
from bench.analytics_page import generate
from jobs.models import Job

pytestmark = pytest.mark.django_db

WINDOWS = (1, 7, 14, 15, 30, 90, 365)


@pytest.fixture
def generated(settings):
    settings.ANALYTICS_OVERVIEW_CACHE_SECONDS = 0  # every read goes to the rollup
    return generate(applications=400, seed=11)


def _page_figures(days: int) -> dict:
    data = selectors.overview(days=days)
    return {key: data[key] for key in ("totals", "spend", "rates", "calibration")}


def _live_figures(days: int) -> dict:
    data = selectors.overview(days=days, use_cache=False)
    return {key: data[key] for key in ("totals", "spend", "rates", "calibration")}


def test_a_rebuilt_rollup_equals_the_live_count_in_every_window(generated):
    assert rollup.rebuild() == AnalyticsDay.objects.count() > 80  # 90 days of submissions
    for days in WINDOWS:
        assert rollup.compare(days=days) == [], days
        assert _page_figures(days) == _live_figures(days), days
    assert _page_figures(30)["totals"]["submitted"] > 100


def test_the_page_recounts_only_the_day_an_outcome_or_a_submission_changed(generated):
    rollup.rebuild()
    assert rollup.refresh(timezone.now().date() - timedelta(days=400)) == []  # nothing changed: nothing recounted
    counted = {day.day: day.computed_at for day in AnalyticsDay.objects.all()}

    silent = Application.objects.filter(outcome="no_response").order_by("-submitted_at")[5]
    outcome_events_record(application_id=silent.id, events=[("replied", None)], event_source="browser")
    refunded = Application.objects.filter(outcome="viewed", connects_refunded=0).order_by("submitted_at").last()
    outcome_events_record(
        application_id=refunded.id, events=[], event_source="api", connects_refunded=refunded.connects_spent
    )
    for days in WINDOWS:  # the figures move at once, and still equal the live count
        assert _page_figures(days) == _live_figures(days), days
    changed = {day.day for day in AnalyticsDay.objects.all() if day.computed_at != counted[day.day]}
    assert changed == {silent.submitted_at.date(), refunded.submitted_at.date()}

    before = _page_figures(7)["totals"]["submitted"]
    job = baker.make(Job, score=77, passed_filters=True)
    template = Application.objects.filter(submitted_at__isnull=False).first()
    baker.make(
        Application, job=job, proposal=template.proposal, proposal_version=template.proposal_version,
        status="verified", submitted_at=timezone.now() - timedelta(hours=1), connects_spent=8,
    )  # fmt: skip
    assert _page_figures(7)["totals"]["submitted"] == before + 1
    assert rollup.compare(days=7) == []

    Application.objects.filter(id=silent.id).delete()  # a day losing an application is recounted too
    assert rollup.compare(days=90) == []


def test_a_job_edited_after_it_was_applied_to_waits_for_the_rebuild(generated):
    """Job has no updated_at: the rollup cannot see a re-score; the nightly rebuild (full=True) puts it right."""
    rollup.rebuild()
    application = Application.objects.filter(submitted_at__gte=timezone.now() - timedelta(days=20)).first()
    Job.objects.filter(id=application.job_id).update(score=3)
    assert rollup.compare(days=30) != []
    call_command("applications", "analytics-rollup", "--rebuild", "--check", "30")
    assert rollup.compare(days=30) == []


def test_the_command_rebuilds_refreshes_and_checks(generated, capsys):
    call_command("applications", "analytics-rollup", "--rebuild", "--check", "90")
    out = capsys.readouterr().out
    assert "Rollup rebuilt" in out and "equals the live count" in out
    call_command("applications", "analytics-rollup")
    assert "0 day(s) recounted" in capsys.readouterr().out
    AnalyticsRollup.objects.filter(dimension="drafter").update(submitted=0)  # tampered: --check says so
    AnalyticsDay.objects.update(fingerprint="x")  # ... until refreshed
    AnalyticsDay.objects.filter(day__lt=timezone.now().date() - timedelta(days=100)).delete()
    call_command("applications", "analytics-rollup", "--check", "90")
    AnalyticsRollup.objects.filter(dimension="drafter").update(submitted=0)
    with pytest.raises(CommandError, match="differs from the live count"):
        call_command("applications", "analytics-rollup", "--check", "90")


def test_the_task_recounts_day_old_days_and_is_queued_by_a_tracking_run_that_recorded_something(generated, monkeypatch):
    from types import SimpleNamespace

    from applications import services, tasks
    from queue_app.models import Task

    rollup.rebuild()
    application = Application.objects.filter(submitted_at__gte=timezone.now() - timedelta(days=20)).first()
    Job.objects.filter(id=application.job_id).update(score=3)  # invisible to the fingerprints
    AnalyticsDay.objects.update(computed_at=timezone.now() - timedelta(hours=25))
    done = tasks.analytics_refresh({"days": 120}, context=None)
    assert done["rollup_days_recounted"] == AnalyticsDay.objects.count() and done["calibration_computed"]
    assert rollup.compare(days=30) == []
    assert tasks.analytics_refresh({"days": 120}, context=None) == {
        "rollup_days_recounted": 0, "calibration_days": 120, "calibration_computed": False, "calibration_ms": 0,
    }  # fmt: skip

    def run(events):
        return SimpleNamespace(
            status="completed", id=1, applications_checked=5, events_recorded=events, connects_refunded=0
        )

    monkeypatch.setattr(services, "outcomes_track", lambda **_kw: run(0))
    tasks.track_outcomes({}, SimpleNamespace(task_id="t-1"))
    assert not Task.objects.filter(task_type="analytics_refresh").exists()  # nothing new: nothing to refit
    monkeypatch.setattr(services, "outcomes_track", lambda **_kw: run(2))
    tasks.track_outcomes({}, SimpleNamespace(task_id="t-2"))
    assert Task.objects.filter(task_type="analytics_refresh").count() == 1
