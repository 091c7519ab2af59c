"""Outcomes analytics: the figures equal hand-computed ones on a seeded data set; calibration suggestion, apply
and revert (audited); permissions on the page and the API; the CLI; the CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from model_bakery import baker

from applications.analytics import background, calibration, selectors
from applications.models import Application, OutcomeEvent
from bench.analytics_page import generate
from bench.outcomes_sim import run as run_simulation
from core.models import AuditEntry
from jobs.models import Job, ProfileTuning, SearchProfile
from jobs.scoring import DEFAULT_WEIGHTS
from proposals.models import Proposal, ProposalVersion
from queue_app.models import Task

pytestmark = pytest.mark.django_db


def _sent(job: Job, *, source: str, model: str = "", prompt: str = "", costs=(Decimal("0"),), hours: float,
          connects: int, refunded: int = 0, outcome: str = "pending", events=(),
          submitted_days_ago: float = 1):  # fmt: skip
    """A job with a proposal (versions costing `costs`), sent `hours` after posting, and its outcome events."""
    proposal = baker.make(Proposal, job=job, status="in_review", current_version=len(costs))
    versions = [
        baker.make(
            ProposalVersion, proposal=proposal, number=n, text="Letter", source=source, model=model,
            prompt_version=prompt, estimated_cost=cost,
        )
        for n, cost in enumerate(costs, 1)
    ]  # fmt: skip
    submitted = timezone.now() - timedelta(days=submitted_days_ago)
    Job.objects.filter(id=job.id).update(posted_at=submitted - timedelta(hours=hours))
    application = baker.make(
        Application, job=job, proposal=proposal, proposal_version=versions[-1], status="verified",
        submitted_at=submitted, connects_spent=connects, connects_refunded=refunded, outcome=outcome,
    )  # fmt: skip
    for kind in events:
        baker.make(OutcomeEvent, application=application, kind=kind, occurred_at=submitted + timedelta(hours=5),
                   source="browser")  # fmt: skip
    return application


@pytest.fixture
def seeded():
    """Seven jobs discovered two days ago (four sent) and one sent fifty days ago. Figures in the tests below."""
    now = timezone.now()
    backend = baker.make(SearchProfile, name="Backend", handoff_min_score=60)
    frontend = baker.make(SearchProfile, name="Frontend", handoff_min_score=60)

    def job(score, profile, **fields):
        values = {"score": score, "profile": profile, "passed_filters": True, "status": "applied",
                  "discovered_at": now - timedelta(days=2)}  # fmt: skip
        values.update(fields)
        return baker.make(Job, **values)

    j1 = job(85, backend, job_type="fixed", budget=1500, client_payment_verified=True, client_total_spent=20000)
    _sent(j1, source="openai", model="gpt-4o-mini", prompt="prompt-1", costs=[Decimal("0.01")], hours=0.5,
          connects=16, outcome="hired", events=["viewed", "replied", "interview", "hired"])  # fmt: skip
    j2 = job(72, backend, job_type="hourly", hourly_max=60, client_payment_verified=True)
    _sent(j2, source="openai", model="gpt-4o-mini", prompt="prompt-1", costs=[Decimal("0.01"), Decimal("0.01")],
          hours=3, connects=12, outcome="declined", events=["viewed", "replied", "declined"])  # fmt: skip
    j3 = job(65, frontend, job_type="fixed", budget=200, client_payment_verified=False)
    _sent(j3, source="template", prompt="template-1", hours=10, connects=8, refunded=8, outcome="job_cancelled",
          events=["job_cancelled"])  # fmt: skip
    j4 = job(55, frontend)
    _sent(j4, source="template", prompt="template-1", hours=30, connects=8, outcome="declined",
          events=["viewed", "declined"])  # fmt: skip
    j5 = job(40, frontend, status="proposal_drafted")
    baker.make(Proposal, job=j5, status="draft", current_version=1)
    job(30, frontend, status="new")  # below the threshold, never drafted
    job(90, backend, status="rejected", passed_filters=False)  # dropped by a hard filter
    old = job(88, backend, discovered_at=now - timedelta(days=60))
    _sent(old, source="openai", model="gpt-4o", prompt="prompt-1", hours=2, connects=16, outcome="replied",
          events=["viewed", "replied"], submitted_days_ago=50)  # fmt: skip
    return {"backend": backend, "frontend": frontend}


def test_the_funnel_equals_the_hand_count(seeded):
    stages = {row["stage"]: row for row in selectors.funnel(days=30)}
    assert {stage: row["count"] for stage, row in stages.items()} == {
        "discovered": 7,
        "shortlisted": 5,  # 85, 72, 65 clear 60; 55 and 40 were drafted anyway; 30 not; the filtered one not
        "drafted": 5,
        "approved": 4,
        "submitted": 4,
        "viewed": 3,
        "replied": 2,  # a later "declined" does not undo j2's reply
        "interview": 1,
        "hired": 1,
    }
    assert stages["replied"]["rate_from_previous"] == pytest.approx(2 / 3)
    assert stages["hired"]["rate_from_discovered"] == pytest.approx(1 / 7)
    assert {row["stage"]: row["count"] for row in selectors.funnel(days=90)}["replied"] == 3


def test_rates_and_spend_equal_the_hand_count(seeded):
    data = selectors.overview(days=30)
    totals = data["totals"]
    assert (totals["submitted"], totals["viewed"], totals["replied"], totals["interview"], totals["hired"]) == (
        4, 3, 2, 1, 1,
    )  # fmt: skip
    assert totals["connects"] == 16 + 12 + 0 + 8  # j3's 8 were refunded
    assert totals["openai"] == Decimal("0.03")
    assert totals["connects_per_reply"] == 18
    assert totals["openai_per_reply"] == Decimal("0.015")
    assert data["spend"]["per"]["hired"]["connects"] == 36
    assert data["spend"]["per"]["interview"]["openai"] == Decimal("0.03")

    def by(dimension):
        return {row["label"]: row for row in data["rates"][dimension]["rows"]}

    drafters = by("drafter")
    assert set(drafters) == {"gpt-4o-mini", "template"}  # gpt-4o's application is outside the 30 days
    assert (drafters["gpt-4o-mini"]["submitted"], drafters["gpt-4o-mini"]["replied"]) == (2, 2)
    assert drafters["gpt-4o-mini"]["connects_per_reply"] == 14
    assert (drafters["template"]["reply_rate"], drafters["template"]["connects_per_reply"]) == (0, None)
    assert {k: v["submitted"] for k, v in by("prompt_version").items()} == {"prompt-1": 2, "template-1": 2}
    assert {k: v["replied"] for k, v in by("profile").items()} == {"Backend": 2, "Frontend": 0}
    assert list(by("score_band")) == ["80-89", "70-79", "60-69", "50-59"]
    assert list(by("time_to_apply")) == ["< 1 h", "1-6 h", "6-24 h", "1-3 d"]
    assert {k: v["submitted"] for k, v in by("budget_band").items()} == {
        "fixed < $250": 1, "fixed $1K-5K": 1, "hourly $50-100": 1, "unknown": 1,
    }  # fmt: skip
    assert by("client_payment")["verified"]["reply_rate"] == 1
    assert by("client_spent")["$10K-100K"]["submitted"] == 1


def test_calibration_deciles_wilson_and_auc(seeded, settings):
    settings.ANALYTICS_MIN_OUTCOMES = 4
    summary = selectors.calibration_summary(days=30)
    assert (summary["settled"], summary["replies"]) == (4, 2)
    bands = {row["band"]: row for row in summary["deciles"]}
    assert (bands["80-89"]["n"], bands["80-89"]["replies"]) == (1, 1)
    assert bands["80-89"]["ci_low"] == pytest.approx(0.2065, abs=1e-4)  # Wilson, 1 of 1, 95 %
    assert bands["50-59"]["ci_high"] == pytest.approx(0.7935, abs=1e-4)
    assert summary["auc"] == 1.0  # both replies outscore both silences
    settings.ANALYTICS_MIN_OUTCOMES = 5
    assert selectors.calibration_summary(days=30)["auc"] is None  # not enough outcomes yet


def test_calibration_maths_on_known_rows():
    rows = [
        calibration.Observation(values={"client": 1.0}, replied=True, connects=10),
        calibration.Observation(values={"client": 0.2}, replied=False, connects=10),
        calibration.Observation(values={"client": 0.6}, replied=True, connects=10),
        calibration.Observation(values={"client": 0.6}, replied=False, connects=10),
    ]
    labels = [r.replied for r in rows]
    assert calibration.auc([1.0, 0.2, 0.6, 0.6], labels) == pytest.approx(3.5 / 4)  # a tie counts half
    assert calibration.connects_per_reply(rows) == 20
    assert calibration.weights_from_coefficients({"fit": 1, "client": 2}, DEFAULT_WEIGHTS) == {
        "fit": 33, "client": 67, "budget": 0, "competition": 0, "freshness": 0, "clarity": 0,
    }  # fmt: skip
    assert calibration.weights_from_coefficients({}, DEFAULT_WEIGHTS) == DEFAULT_WEIGHTS
    too_few = calibration.suggest(rows, min_outcomes=100)
    assert not too_few.enough_data and "100" in too_few.reason


def test_the_simulation_meets_its_target_with_the_product_code():
    report = run_simulation(seed=22, jobs=2000, days=60, fit_days=30)
    assert report["passed"], report
    assert (
        report["held_out"]["suggested"]["connects_per_reply"]
        < 0.8 * report["held_out"]["default"]["connects_per_reply"]
    )


@pytest.fixture
def generated(settings):
    settings.ANALYTICS_MIN_OUTCOMES = 100
    made = generate(applications=900, seed=3)
    return SearchProfile.objects.get(id=made["profiles"][0])


def test_suggest_apply_and_revert_are_audited(generated, operator_client, operator):
    profile = generated
    background.calibration_compute(120)  # the analytics_refresh task's work
    report = operator_client.get(f"/api/analytics/calibration/?profile={profile.id}&days=120").json()
    assert report["state"] == "ready" and [item["profile"]["id"] for item in report["profiles"]] == [profile.id]
    suggestion = report["profiles"][0]["suggestion"]
    assert suggestion["enough_data"], suggestion
    assert suggestion["weights"]["client"] > DEFAULT_WEIGHTS["client"]  # the generator's strongest signal
    assert sum(suggestion["weights"].values()) == 100
    assert suggestion["expected_connects_per_reply"] < suggestion["current_connects_per_reply"]

    response = operator_client.post(
        "/api/analytics/calibration/apply/", {"profile_id": profile.id, "days": 120}, format="json"
    )
    assert response.status_code == 201, response.content
    tuning = ProfileTuning.objects.get(id=response.json()["id"])
    profile.refresh_from_db()
    assert profile.score_weights == suggestion["weights"] and profile.handoff_min_score == suggestion["threshold"]
    assert (tuning.previous_weights, tuning.previous_threshold, tuning.applied_by) == ({}, 60, operator)
    applied = AuditEntry.objects.get(action="searchprofile.calibration_apply")
    assert applied.before == {"score_weights": {}, "handoff_min_score": 60}
    assert applied.actor == operator and applied.source == "api"

    response = operator_client.post("/api/analytics/calibration/revert/", {"tuning_id": tuning.id}, format="json")
    assert response.status_code == 200, response.content
    profile.refresh_from_db()
    assert (profile.score_weights, profile.handoff_min_score) == ({}, 60)
    assert AuditEntry.objects.get(action="searchprofile.calibration_revert").after["handoff_min_score"] == 60
    again = operator_client.post("/api/analytics/calibration/revert/", {"tuning_id": tuning.id}, format="json")
    assert again.status_code == 409 and "already reverted" in again.json()["error"]["message"]


def test_apply_refuses_without_enough_outcomes_and_bad_input(seeded, operator_client):
    response = operator_client.post(
        "/api/analytics/calibration/apply/", {"profile_id": seeded["backend"].id}, format="json"
    )
    assert response.status_code == 400 and "settled outcomes" in response.json()["error"]["message"]
    assert not ProfileTuning.objects.exists() and not AuditEntry.objects.filter(action__contains="calibration")
    bad = operator_client.post("/api/analytics/calibration/apply/", {"profile_id": "x"}, format="json")
    assert bad.status_code == 400 and "profile_id" in bad.json()["error"]["field_errors"]
    assert operator_client.get("/api/analytics/funnel/?days=0").status_code == 400
    missing = operator_client.post("/api/analytics/calibration/revert/", {"tuning_id": 999}, format="json")
    assert missing.status_code == 404


def test_api_roles(seeded, viewer_client, anonymous_client):
    for path in ("funnel/", "rates/", "calibration/", "export.csv"):
        assert viewer_client.get(f"/api/analytics/{path}").status_code == 200, path
        assert anonymous_client.get(f"/api/analytics/{path}").status_code in (401, 403), path
    refused = viewer_client.post(
        "/api/analytics/calibration/apply/", {"profile_id": seeded["backend"].id}, format="json"
    )
    assert refused.status_code == 403
    rates = viewer_client.get("/api/analytics/rates/?days=30").json()
    assert rates["totals"]["replied"] == 2 and rates["dimensions"]["drafter"]["label"] == "Drafter"


def test_csv_export_has_one_row_per_sent_application(seeded, viewer_client):
    response = viewer_client.get("/api/analytics/export.csv?days=30")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 4
    first = rows[0]  # sent at the same moment: ordered by id then
    assert set(selectors.EXPORT_COLUMNS) == set(first)
    assert sorted(row["replied"] for row in rows) == ["False", "False", "True", "True"]
    assert {row["drafter"] for row in rows} == {"gpt-4o-mini", "template"}


def test_admin_page_needs_the_view_permission(seeded, client, django_user_model):
    assert client.get("/admin/analytics/").status_code == 302  # to the login page
    staff = django_user_model.objects.create_user("plain-staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/analytics/").status_code == 403
    assert client.get("/admin/analytics/export.csv").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_application"))
    page = client.get("/admin/analytics/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="chart-funnel"' in html and 'data-value="7"' in html  # the funnel's first bar: 7 discovered
    assert "Apply the suggestion" not in client.get("/admin/analytics/?tab=calibration").content.decode()
    refused = client.post("/admin/analytics/calibration/apply/", {"profile_id": seeded["backend"].id})
    assert refused.status_code == 403 and not ProfileTuning.objects.exists()
    assert 'data-action="recompute"' not in client.get("/admin/analytics/?tab=calibration").content.decode()
    queued = Task.objects.filter(task_type="analytics_refresh").count()
    refused = client.post("/admin/analytics/calibration/recompute/", {"days": "30"})
    assert refused.status_code == 403 and Task.objects.filter(task_type="analytics_refresh").count() == queued


def test_admin_apply_and_revert_buttons(generated, client, django_user_model, settings):
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    settings.ANALYTICS_CALIBRATION_DAYS = 120
    background.calibration_compute(120)
    page = client.get("/admin/analytics/?tab=calibration").content.decode()
    assert f'data-profile="{generated.id}"' in page
    response = client.post("/admin/analytics/calibration/apply/", {"profile_id": generated.id}, follow=True)
    assert "Applied to" in response.content.decode()
    tuning = ProfileTuning.objects.get()
    assert AuditEntry.objects.get(action="searchprofile.calibration_apply").source == "admin"
    response = client.post("/admin/analytics/calibration/revert/", {"tuning_id": tuning.id}, follow=True)
    assert "Reverted" in response.content.decode()
    generated.refresh_from_db()
    assert generated.handoff_min_score == 60 and generated.score_weights == {}


def test_cli_stats(seeded, capsys):
    call_command("applications", "stats", "--days", "30")
    out = capsys.readouterr().out
    assert "discovered" in out and "Sent 4, viewed 3, replied 2 (50.0%), interview 1, hired 1" in out
    assert "Connects 36 (net of refunds)" in out
    call_command("applications", "stats", "--days", "30", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["connects_per_reply"] == 18
    with pytest.raises(CommandError, match="--days must be between"):
        call_command("applications", "stats", "--days", "0")


# --- speed: what the default view runs, and the calibration cache ------------------------------------------
def test_the_default_page_runs_a_bounded_number_of_queries_and_no_calibration_fit(
    seeded, client, django_user_model, django_assert_max_num_queries, monkeypatch
):
    """The default tab is the funnel, the window's per-day fingerprints, the rollup's stored fingerprints and sums,
    and one live query for at most two days (the window's partial first day and the "settled by silence" line),
    plus the session, the user, the profile names and their transactions: no per-profile query, no regression fit,
    no scan of the window's applications (issue 22)."""
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)

    def refuse(**_kwargs):
        raise AssertionError("the default tab must not run the calibration")

    monkeypatch.setattr(selectors, "profile_suggestion", refuse)
    monkeypatch.setattr(selectors, "observations", refuse)
    monkeypatch.setattr(calibration, "suggest", refuse)
    from django.core.cache import cache

    client.get("/admin/analytics/")  # the first request in a process loads permissions, content types...
    cache.clear()  # the cube is not cached; the rollup was brought up to date by the request before
    with django_assert_max_num_queries(16) as captured:
        page = client.get("/admin/analytics/")
    assert page.status_code == 200 and 'id="chart-calibration"' in page.content.decode()
    heavy = [q["sql"] for q in captured.captured_queries if "applications_application" in q["sql"]]
    assert len(heavy) == 3, heavy  # the per-day fingerprints, the funnel and the live slice of two days
    assert all("submitted_at < " in sql for sql in heavy if "GROUPING SETS" in sql)  # bounded: not the window
    with django_assert_max_num_queries(12) as captured:  # cached: the fingerprint and the funnel
        client.get("/admin/analytics/")
    assert len([q for q in captured.captured_queries if "applications_application" in q["sql"]]) == 2
    for _ in range(3):  # more profiles and applications do not add queries, and are counted at once
        job = baker.make(Job, profile=baker.make(SearchProfile), score=70, passed_filters=True)
        _sent(job, source="template", hours=2, connects=8)
    with django_assert_max_num_queries(29) as captured:  # today's day is recounted: lock, re-check, count, replace
        page = client.get("/admin/analytics/")
    assert page.context["data"]["totals"]["submitted"] == 7  # 4 seeded + 3 new: not a stale cached cube
    assert len([q for q in captured.captured_queries if "pg_advisory_xact_lock" in q["sql"]]) == 1


def test_the_calibration_tab_never_fits_it_shows_the_stored_report_and_queues_a_recount(
    generated, client, django_user_model, settings, monkeypatch
):
    """The regressions run in the analytics_refresh task; the tab and the API show the stored report with its age
    and queue the task (once per state of the data) when it is missing or stale (issue 22)."""
    from applications.services.outcomes import outcome_events_record
    from applications.tasks import analytics_refresh
    from queue_app.models import Task

    settings.ANALYTICS_CALIBRATION_DAYS = 120
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    fits = []
    real = selectors.profile_suggestion
    monkeypatch.setattr(selectors, "profile_suggestion", lambda **kw: fits.append(kw["profile"].id) or real(**kw))

    def queued():
        return Task.objects.filter(task_type="analytics_refresh").count()

    first = client.get("/admin/analytics/?tab=calibration")
    assert first.context["report"]["state"] == "missing" and fits == [] and queued() == 1
    assert 'data-state="missing"' in first.content.decode()
    client.get("/admin/analytics/?tab=calibration")
    assert queued() == 1  # the same data: not queued twice

    assert analytics_refresh({"days": 120}, context=None)["calibration_computed"] is True
    assert len(fits) == 3
    page = client.get("/admin/analytics/?tab=calibration")
    assert page.context["report"]["state"] == "ready" and len(fits) == 3
    assert f'data-profile="{generated.id}"' in page.content.decode()
    api = client.get(f"/api/analytics/calibration/?days=120&profile={generated.id}").json()
    shown = next(item for item in page.context["report"]["profiles"] if item["profile"]["id"] == generated.id)
    assert api["state"] == "ready" and [item["suggestion"] for item in api["profiles"]] == [shown["suggestion"]]
    live = selectors.calibration_report(days=120)
    assert api["overall"]["settled"] == live["overall"]["settled"] and api["overall"]["auc"] == pytest.approx(
        live["overall"]["auc"]
    )
    assert analytics_refresh({"days": 120}, context=None)["calibration_computed"] is False  # still current

    # A recorded outcome makes it stale: the previous figures are shown and a recount is queued.
    pending = Application.objects.filter(outcome="no_response").order_by("-submitted_at").first()
    outcome_events_record(application_id=pending.id, events=[("replied", None)], event_source="browser")
    fits.clear()
    page = client.get("/admin/analytics/?tab=calibration")
    assert page.context["report"]["state"] == "stale" and fits == [] and queued() == 2
    assert "a recount is queued" in page.content.decode()
    analytics_refresh({"days": 120}, context=None)
    assert len(fits) == 3 and client.get("/admin/analytics/?tab=calibration").context["report"]["state"] == "ready"

    # Applying changes a profile's weights: stale again. A person's Recompute is queued at once and audited.
    client.post("/admin/analytics/calibration/apply/", {"profile_id": generated.id}, follow=True)
    assert client.get("/admin/analytics/?tab=calibration").context["report"]["state"] == "stale"
    before = queued()
    response = client.post("/admin/analytics/calibration/recompute/", {"days": "120"}, follow=True)
    assert "being recomputed" in response.content.decode() and queued() == before + 1
    entry = AuditEntry.objects.get(action="analytics.calibration_recompute")
    assert entry.actor == boss and entry.after["days"] == 120


def test_recompute_fits_again_what_the_fingerprint_cannot_see(generated, client, django_user_model):
    """A job re-scored (Job has no updated_at) leaves the report 'ready'; a person's Recompute fits it anyway."""
    from applications.tasks import analytics_refresh

    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    analytics_refresh({"days": 120}, context=None)
    before = background.calibration_stored(120, enqueue=False)
    Job.objects.filter(applications__submitted_at__isnull=False).update(score=1)
    assert background.calibration_stored(120, enqueue=False)["state"] == "ready"

    client.post("/admin/analytics/calibration/recompute/", {"days": "120"})
    task = Task.objects.filter(task_type="analytics_refresh").order_by("-created_at").first()
    assert task.payload == {"days": 120, "force": True, "full": False}
    assert analytics_refresh(task.payload, context=None)["calibration_computed"] is True
    after = background.calibration_stored(120, enqueue=False)
    assert after["computed_at"] > before["computed_at"] and after["overall"] != before["overall"]


def test_an_older_run_never_replaces_a_newer_report(generated):
    """Two workers: the run that read the data first and finished last keeps the newer report in place."""
    from applications.models import AnalyticsCalibration

    background.calibration_compute(120)
    later = timezone.now() + timedelta(minutes=5)  # a run that read the data after this one did
    AnalyticsCalibration.objects.filter(days=120).update(computed_at=later, fingerprint="newer")

    assert background.calibration_compute(120) is None
    kept = AnalyticsCalibration.objects.get(days=120)
    assert (kept.fingerprint, kept.computed_at) == ("newer", later)
    AnalyticsCalibration.objects.filter(days=120).update(computed_at=later - timedelta(minutes=10))
    assert background.calibration_compute(120).fingerprint == background.calibration_fingerprint(120)
