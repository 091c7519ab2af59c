"""Hard filters and the weighted score on known jobs; job_filtering re-applies them after weights change."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from model_bakery import baker

from jobs import scoring, services, tasks
from jobs.models import Job, JobStatus, SearchProfile
from queue_app.registry import TaskContext

pytestmark = pytest.mark.django_db


def _profile(**overrides) -> SearchProfile:
    values = {
        "name": "Django backend",
        "keywords": ["django", "rest api"],
        "skills": ["Python", "Django", "PostgreSQL"],
        "target_hourly_rate": Decimal("60"),
        "target_fixed_budget": Decimal("2000"),
        "require_payment_verified": True,
    }
    values.update(overrides)
    return baker.make(SearchProfile, **values)


def _great_job(**overrides) -> Job:
    values = {
        "upwork_id": "~01great",
        "title": "Django REST API for a logistics dashboard",
        "description": "Build a Django REST API with PostgreSQL. " * 30,
        "job_type": "hourly",
        "hourly_min": Decimal("50"),
        "hourly_max": Decimal("70"),
        "skills": ["Python", "Django", "PostgreSQL"],
        "client_country": "Germany",
        "client_payment_verified": True,
        "client_total_spent": Decimal("150000"),
        "client_hires": 40,
        "client_rating": Decimal("4.95"),
        "proposals_tier": "Less than 5",
        "posted_at": timezone.now() - timedelta(hours=1),
    }
    values.update(overrides)
    return baker.make(Job, **values)


def _weak_job(**overrides) -> Job:
    values = {
        "upwork_id": "~01weak",
        "title": "WordPress theme fixes",
        "description": "Details in chat.",
        "job_type": "fixed",
        "budget": Decimal("100"),
        "skills": ["WordPress"],
        "client_country": "Canada",
        "client_payment_verified": True,
        "client_total_spent": Decimal("0"),
        "client_hires": 0,
        "client_rating": None,
        "proposals_tier": "50+",
        "posted_at": timezone.now() - timedelta(days=6),
    }
    values.update(overrides)
    return baker.make(Job, **values)


def test_a_well_matched_job_from_a_good_client_scores_high():
    evaluation = scoring.evaluate(_great_job(), _profile())
    assert evaluation.passed
    assert evaluation.score >= 90
    assert evaluation.breakdown["fit"]["value"] == 1.0
    assert evaluation.breakdown["competition"]["reason"] == "Less than 5 proposals"


def test_a_poor_match_scores_low_and_the_breakdown_adds_up():
    evaluation = scoring.evaluate(_weak_job(), _profile())
    assert evaluation.score < 30
    assert abs(sum(part["points"] for part in evaluation.breakdown.values()) - evaluation.score) <= 1


def test_weights_change_the_ranking():
    cheap_but_perfect_fit = _great_job(upwork_id="~01a", hourly_max=Decimal("20"), hourly_min=Decimal("15"))
    pricey_poor_fit = _great_job(upwork_id="~01b", skills=["WordPress"], title="Site work", description="x" * 900)
    fit_first = _profile(name="fit", score_weights={"fit": 100, "budget": 0})
    budget_first = _profile(name="budget", score_weights={"fit": 0, "budget": 100})
    assert scoring.evaluate(cheap_but_perfect_fit, fit_first).score > scoring.evaluate(pricey_poor_fit, fit_first).score
    assert (
        scoring.evaluate(cheap_but_perfect_fit, budget_first).score
        < scoring.evaluate(pricey_poor_fit, budget_first).score
    )


@pytest.mark.parametrize(
    ("job_overrides", "profile_overrides", "reason_fragment"),
    [
        ({"client_payment_verified": False}, {}, "not verified"),
        ({"client_country": "India"}, {"excluded_countries": ["india"]}, "India is excluded"),
        ({"description": "Urgent unpaid trial task first"}, {"excluded_words": ["unpaid"]}, "unpaid"),
        ({"hourly_max": Decimal("30"), "hourly_min": Decimal("20")}, {"min_hourly_rate": Decimal("45")}, "below"),
        ({"proposals_tier": "20 to 50"}, {"max_proposals": 20}, "20 to 50"),
        ({"client_total_spent": Decimal("100")}, {"min_client_spent": Decimal("1000")}, "Client spent"),
        ({"client_rating": Decimal("3.10")}, {"min_client_rating": Decimal("4.0")}, "rating"),
        ({"client_hires": 1}, {"min_client_hires": 3}, "hires"),
    ],
)
def test_hard_filters_drop_jobs_with_a_reason(job_overrides, profile_overrides, reason_fragment):
    evaluation = scoring.evaluate(_great_job(**job_overrides), _profile(**profile_overrides))
    assert not evaluation.passed
    assert any(reason_fragment in reason for reason in evaluation.reasons), evaluation.reasons


def test_fixed_budget_floor_and_unknown_values_do_not_drop():
    profile = _profile(min_fixed_budget=Decimal("500"), min_client_rating=Decimal("4.5"))
    assert not scoring.evaluate(_weak_job(), profile).passed  # $100 fixed < $500 floor
    unknown = _weak_job(upwork_id="~01unknown", budget=None, client_rating=None, client_payment_verified=None)
    assert scoring.evaluate(unknown, profile).passed


def test_excluded_words_match_whole_words_only():
    profile = _profile(excluded_words=["test"])
    assert scoring.evaluate(_great_job(description="We need a developer. " * 40), profile).passed
    assert scoring.evaluate(_great_job(upwork_id="~01t", description="A test task first."), profile).reasons


def test_jobs_evaluate_stores_score_breakdown_and_verdict():
    profile = _profile(excluded_countries=["Canada"])
    great, weak = _great_job(profile=profile), _weak_job(profile=profile)
    counts = services.jobs_evaluate(profile=profile)
    great.refresh_from_db()
    weak.refresh_from_db()
    assert counts == {"evaluated": 2, "passed": 1, "filtered_out": 1}
    assert great.passed_filters and great.score >= 90 and set(great.score_breakdown) == set(scoring.SCORE_PARTS)
    assert not weak.passed_filters and "Canada" in weak.filter_reasons[0]
    assert "fit" in scoring.explain(great.score_breakdown)


def test_job_filtering_task_rescores_after_weights_change():
    profile = _profile()
    job = _great_job(profile=profile, hourly_max=Decimal("20"), hourly_min=Decimal("10"))
    services.jobs_evaluate(profile=profile)
    job.refresh_from_db()
    before = job.score
    SearchProfile.objects.filter(id=profile.id).update(score_weights={"budget": 0})
    context = TaskContext(task_id="t", task_type="job_filtering", attempt=1, max_retries=0)
    result = tasks.job_filtering({"profile_id": profile.id}, context)
    job.refresh_from_db()
    assert result["evaluated"] == 1
    assert job.score > before


def test_rescoring_leaves_rejected_jobs_alone_by_default():
    profile = _profile()
    job = _great_job(profile=profile, status=JobStatus.REJECTED)
    services.jobs_evaluate(profile=profile)
    job.refresh_from_db()
    assert job.score is None
