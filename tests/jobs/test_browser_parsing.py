"""The browser source's text parsing and pacing, without a browser."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from jobs.sources.browser import (
    BrowserSource,
    clean_tier,
    parse_int,
    parse_money,
    parse_payment_verified,
    parse_posted,
    parse_range,
    parse_rating,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("$12.5K total spent", Decimal("12500")),
        ("$140K total spent", Decimal("140000")),
        ("$1.2M total spent", Decimal("1200000")),
        ("$1,250.00", Decimal("1250.00")),
        ("$0 total spent", Decimal("0")),
        ("No budget", None),
    ],
)
def test_parse_money(text, value):
    assert parse_money(text) == value


def test_parse_other_fields():
    assert parse_range("$15.00 - $35.00") == (Decimal("15.00"), Decimal("35.00"))
    assert parse_range("$40.00") == (Decimal("40.00"), Decimal("40.00"))
    assert parse_int("Send a proposal for: 12 Connects") == 12
    assert parse_int("1,204 hires") == 1204
    assert parse_rating("4.9 of 5") == Decimal("4.90")
    assert parse_rating("No reviews yet") is None
    assert parse_payment_verified("Payment method verified") is True
    assert parse_payment_verified("Payment method not verified") is False
    assert parse_payment_verified("") is None
    assert clean_tier("Proposals: 5 to 10") == "5 to 10"
    assert parse_posted("2026-11-30T01:00:00+00:00") == datetime(2026, 11, 30, 1, tzinfo=UTC)


def test_pauses_between_pages_stay_within_the_configured_jitter(settings):
    settings.JOBS_BROWSER_DELAY_MIN = 0.05
    settings.JOBS_BROWSER_DELAY_MAX = 0.15
    source = BrowserSource(storage_state={"cookies": [], "origins": []})
    durations = []
    for _ in range(5):
        started = time.monotonic()
        asyncio.run(source._pause())
        durations.append(time.monotonic() - started)
    assert all(0.05 <= d < 0.3 for d in durations), durations
    assert len({round(d, 3) for d in durations}) > 1  # jittered, not a fixed beat
