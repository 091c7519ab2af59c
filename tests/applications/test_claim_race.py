"""Many threads taking submission slots at once never pass a cap: the gates run under one PostgreSQL lock."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from applications import services
from applications.models import Application, ApplicationStatus
from tests.applications.conftest import make_application

pytestmark = pytest.mark.django_db(transaction=True)


def claim_all_at_once(application_ids: list[int]) -> dict[int, str]:
    """Each id claimed from its own thread (own connection), all released by one barrier."""
    barrier = threading.Barrier(len(application_ids))
    outcomes: dict[int, str] = {}

    def claim(application_id: int) -> None:
        try:
            barrier.wait()
            services.application_claim(application_id=application_id)
            outcomes[application_id] = "claimed"
        except services.GateRefused as refused:
            outcomes[application_id] = refused.gate
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(i,)) for i in application_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_daily_cap_holds_when_six_claims_race(sandbox, settings):
    settings.APPLICATIONS_DAILY_CAP = 2
    ids = [make_application(sandbox, index).application.id for index in (1, 2, 5, 6, 9, 10)]

    outcomes = claim_all_at_once(ids)

    assert list(outcomes.values()).count("claimed") == 2
    # The others are refused; with a zero gap the refusal is the daily cap (a clock step on a loaded
    # machine can make the zero-second gap answer first, which refuses just the same).
    assert set(outcomes.values()) - {"claimed"} <= {"daily_cap", "gap"}
    assert "daily_cap" in outcomes.values()
    assert Application.objects.filter(status=ApplicationStatus.SUBMITTING, counts_toward_caps=True).count() == 2


def test_monthly_connects_budget_holds_when_claims_race(sandbox, settings):
    settings.APPLICATIONS_MONTHLY_CONNECTS_BUDGET = 20  # jobs 1, 5, 9, 13 need 8 Connects each: two fit
    ids = [make_application(sandbox, index).application.id for index in (1, 5, 9, 13)]

    outcomes = claim_all_at_once(ids)

    assert sorted(outcomes.values()) == ["claimed", "claimed", "monthly_connects", "monthly_connects"]
    reserved = sum(Application.objects.filter(counts_toward_caps=True).values_list("connects_reserved", flat=True))
    assert reserved == 16


def test_gap_lets_one_of_racing_claims_through(sandbox, settings):
    settings.APPLICATIONS_MIN_GAP_SECONDS = 600
    settings.APPLICATIONS_GAP_JITTER_SECONDS = 60
    ids = [make_application(sandbox, index).application.id for index in (1, 2, 5, 6)]

    outcomes = claim_all_at_once(ids)

    assert sorted(outcomes.values()) == ["claimed", "gap", "gap", "gap"]
