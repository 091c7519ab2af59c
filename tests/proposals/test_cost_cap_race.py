"""The daily cost cap is checked and reserved atomically: concurrent generations cannot both pass the last slot."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from model_bakery import baker

from jobs.models import Job, JobStatus
from proposals import selectors, services
from proposals.drafting import CostCapReached, DraftUnavailable
from proposals.models import OpenAICostReservation, Proposal, ProposalVersion
from tests.proposals.conftest import Reply, error_body


def spend(amount: str) -> None:
    proposal = baker.make(Proposal, job=baker.make(Job), current_version=1)
    baker.make(ProposalVersion, proposal=proposal, number=1, text="x", source="openai", estimated_cost=amount)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_generations_at_the_last_affordable_slot_call_openai_once(openai_stub, profile, settings):
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("1.00")
    spend("0.999")  # below the cap: one more call is allowed, and it takes the day over
    jobs = baker.make(Job, status=JobStatus.SHORTLISTED, _quantity=2)
    # The winner's call stays in flight long enough for the loser to check while it runs.
    openai_stub.state.script(Reply(delay=1.5), Reply(delay=1.5))
    barrier = threading.Barrier(2)
    outcomes: dict[int, object] = {}

    def attempt(job_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[job_id] = services.proposal_generate(job_id=job_id)
        except Exception as error:
            outcomes[job_id] = error
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=attempt, args=(job.id,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(openai_stub.state.requests) == 1
    drafted = [o for o in outcomes.values() if isinstance(o, Proposal)]
    refused = [o for o in outcomes.values() if isinstance(o, CostCapReached)]
    assert (len(drafted), len(refused)) == (1, 1), outcomes
    assert "reserved by calls in progress" in str(refused[0])
    assert ProposalVersion.objects.filter(source="openai", proposal__job__in=jobs).count() == 1
    # Settled: the real cost is on the version and nothing stays reserved.
    assert not OpenAICostReservation.objects.exists()
    assert selectors.openai_spent_today() == Decimal("1.000800")


@pytest.mark.django_db
def test_a_failed_call_releases_its_reservation_so_the_next_one_may_run(openai_stub, job, profile, settings):
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("1.00")
    spend("0.999")
    openai_stub.state.script(Reply(500, error_body("The server had an error", kind="server_error")))

    with pytest.raises(DraftUnavailable):
        services.proposal_generate(job_id=job.id)
    assert not OpenAICostReservation.objects.exists()
    assert selectors.openai_spent_today() == Decimal("0.999")

    proposal = services.proposal_generate(job_id=job.id)  # the retry is admitted: nothing was left reserved
    assert proposal.current_version == 1
    assert len(openai_stub.state.requests) == 2
    assert not OpenAICostReservation.objects.exists()


@pytest.mark.django_db
def test_a_live_reservation_counts_against_the_cap(openai_stub, job, profile, settings):
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("1.00")
    spend("0.90")
    OpenAICostReservation.objects.create(amount="0.10")  # another call in flight

    with pytest.raises(CostCapReached, match=r"\$0\.9000 spent today, \$0\.1000 more reserved"):
        services.proposal_generate(job_id=job.id)
    assert openai_stub.state.requests == []


@pytest.mark.django_db
def test_a_reservation_left_by_a_killed_worker_stops_counting_after_its_ttl(openai_stub, job, profile, settings):
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("1.00")
    spend("0.90")
    stale = OpenAICostReservation.objects.create(
        amount="0.10", created_at=timezone.now() - selectors.COST_RESERVATION_TTL - timedelta(seconds=1)
    )

    services.proposal_generate(job_id=job.id)

    assert len(openai_stub.state.requests) == 1
    assert not OpenAICostReservation.objects.filter(id=stale.id).exists()  # cleaned up by the next reservation
