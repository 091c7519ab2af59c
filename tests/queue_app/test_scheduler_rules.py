"""Cron and time-zone rules of schedules: validation and next-run computation in the schedule's own zone."""

from datetime import UTC, datetime

import pytest

from core.errors import ValidationFailed
from queue_app.scheduling import cron_normalize, firing_key, schedule_next_run, timezone_validate


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # 09:00 in New York is 14:00 UTC in winter (EST) ...
        ("America/New_York", "2026-11-30T12:00:00+00:00", "2026-11-30T14:00:00+00:00"),
        # ... and 13:00 UTC in summer (EDT), across the March change.
        ("America/New_York", "2026-03-07T15:00:00+00:00", "2026-03-08T13:00:00+00:00"),
        # Half-hour offset: 09:00 in Kolkata is 03:30 UTC.
        ("Asia/Kolkata", "2026-11-30T00:00:00+00:00", "2026-11-30T03:30:00+00:00"),
        # 09:00 in Tokyo (UTC+9) is midnight UTC; at 23:00 UTC it is already 08:00 the next day there.
        ("Asia/Tokyo", "2026-11-29T23:00:00+00:00", "2026-11-30T00:00:00+00:00"),
        ("UTC", "2026-11-30T09:00:00+00:00", "2026-12-01T09:00:00+00:00"),
    ],
)
def test_0_9_every_day_fires_at_0900_in_the_schedules_zone(zone, after, expected):
    next_run = schedule_next_run(cron_expression="0 9 * * *", timezone_name=zone, after=at(after))
    assert next_run == at(expected)
    assert next_run.tzinfo == UTC
    assert next_run.astimezone(timezone_validate(zone)).hour == 9


def test_next_run_does_not_depend_on_the_process_time_zone(monkeypatch):
    """rq-scheduler reads cron strings in the process's local zone; ours never does."""
    import time

    results = []
    for tz in ("America/Los_Angeles", "Asia/Kolkata"):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
        results.append(
            schedule_next_run(
                cron_expression="0 9 * * 1-5", timezone_name="Europe/Berlin", after=at("2026-11-27T12:00:00+00:00")
            )
        )
    monkeypatch.delenv("TZ")
    time.tzset()
    assert results == [at("2026-11-30T08:00:00+00:00")] * 2  # Monday 09:00 CET


def test_business_hours_cron_skips_the_weekend():
    runs = []
    after = at("2026-11-27T16:20:00+01:00")  # Friday 16:20 in Berlin
    for _ in range(2):
        after = schedule_next_run(cron_expression="*/30 9-16 * * 1-5", timezone_name="Europe/Berlin", after=after)
        runs.append(after)
    assert runs == [at("2026-11-27T15:30:00+00:00"), at("2026-11-30T08:00:00+00:00")]


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("61 * * * *", "out of range or malformed"),
        ("0 25 * * *", "out of range or malformed"),
        ("*/0 * * * *", "out of range or malformed"),
        ("0 9 * *", "expected 5 fields"),
        ("", "expected 5 fields"),
        ("every day", "expected 5 fields"),
        ("@daily", "expected 5 fields"),
        ("* * * * * */5", "expected 5 fields"),  # seconds only with SCHEDULER_CRON_SECONDS
    ],
)
def test_bad_cron_expressions_are_refused_naming_the_field(expression, fragment):
    with pytest.raises(ValidationFailed) as caught:
        cron_normalize(expression)
    assert fragment in caught.value.message
    assert "cron_expression" in caught.value.field_errors


def test_cron_is_normalized_to_single_spaces():
    assert cron_normalize("  0   9 * *  1-5 ") == "0 9 * * 1-5"


def test_seconds_field_accepted_only_when_enabled(settings):
    settings.SCHEDULER_CRON_SECONDS = True
    assert cron_normalize("* * * * * */5") == "* * * * * */5"
    nxt = schedule_next_run(cron_expression="* * * * * */5", timezone_name="UTC", after=at("2026-11-30T00:00:01+00:00"))
    assert nxt == at("2026-11-30T00:00:05+00:00")


def test_cron_that_never_fires_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        schedule_next_run(cron_expression="0 0 31 2 *", timezone_name="UTC", after=at("2026-01-01T00:00:00+00:00"))
    assert "never fires" in caught.value.message


@pytest.mark.parametrize("zone", ["Mars/Base", "", "../etc/passwd"])
def test_unknown_time_zone_is_refused(zone):
    with pytest.raises(ValidationFailed) as caught:
        timezone_validate(zone)
    assert "timezone" in caught.value.field_errors


def test_firing_key_is_the_same_for_any_representation_of_the_instant():
    utc = at("2026-11-30T14:00:00+00:00")
    new_york = at("2026-11-30T09:00:00-05:00")
    assert firing_key(7, utc) == firing_key(7, new_york) == "schedule:7:2026-11-30T14:00:00+00:00"
