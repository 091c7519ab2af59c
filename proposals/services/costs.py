"""The OpenAI spending cap: reserve a call's estimated cost under one advisory lock, release it after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from proposals import drafting, selectors
from proposals.drafting import CostCapReached, DraftRequest
from proposals.models import (
    OpenAICostReservation,
)

# pg_advisory_xact_lock key serialising "read today's OpenAI spend, then reserve" across all workers.
COST_LOCK_KEY = 0x55_50_57_4F_41_49  # "UPWOAI"


def cost_reserve(*, estimate: Decimal, task_id: str | None = None) -> OpenAICostReservation:
    """Check the daily OpenAI cost cap and reserve `estimate` for one call, atomically; CostCapReached when reached.

    Under a transaction-level advisory lock, today's spend (the versions' costs) plus the live
    reservations of calls in flight is compared with OPENAI_DAILY_COST_CAP_USD; while it is below, a
    reservation is written before the lock is released, so the next check counts it. The caller
    settles it (deletes it in the transaction that writes the version carrying the real cost) or
    releases it when the call fails (cost_release; openai_budget does both).

    What can still go over the cap: a call is admitted while spend + reservations is below the cap,
    so the day can end above it by the real cost of the last call admitted, plus, for every call in
    flight at the same time, what its real cost exceeds its estimate by (estimates are generous).
    A reservation left by a process killed mid-call keeps counting for COST_RESERVATION_TTL (safe
    side), then is ignored. A draft thrown away because another task wrote the proposal first is not
    counted.
    """
    cap = settings.OPENAI_DAILY_COST_CAP_USD
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COST_LOCK_KEY])
        now = timezone.now()
        spent = selectors.openai_spent_today(now)
        reserved = selectors.openai_reserved_today(now)
        if spent + reserved >= cap:
            in_flight = f", ${reserved:.4f} more reserved by calls in progress" if reserved else ""
            raise CostCapReached(
                f"The daily OpenAI cost cap of ${cap} is reached (${spent:.4f} spent today{in_flight}); "
                "generation resumes tomorrow, or raise OPENAI_DAILY_COST_CAP_USD."
            )
        OpenAICostReservation.objects.filter(created_at__lt=now - selectors.COST_RESERVATION_TTL).delete()
        return OpenAICostReservation.objects.create(amount=max(estimate, Decimal("0")), task_id=task_id, created_at=now)


def cost_release(reservation: OpenAICostReservation | None) -> None:
    """Drop a reservation: its call failed, or (inside the version's transaction) its real cost is now recorded."""
    if reservation is not None:
        OpenAICostReservation.objects.filter(id=reservation.id).delete()


@contextmanager
def openai_budget(
    request: DraftRequest, *, generator: str, task_id: str | None = None
) -> Iterator[OpenAICostReservation | None]:
    """Reserve the call's estimated cost for the block (OpenAI only) and release it however the block ends.

    The block settles by calling cost_release inside the transaction that writes the version.
    """
    reservation = None
    if generator == "openai":
        reservation = cost_reserve(estimate=drafting.estimate_request_cost(request), task_id=task_id)
    try:
        yield reservation
    finally:
        cost_release(reservation)
