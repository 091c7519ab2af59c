"""Default schedules: created by name when missing, skipped until their task type exists, never overwritten."""

import logging

import pytest

from queue_app import registry, scheduling
from queue_app.models import ScheduledTask
from queue_app.scheduling import default_schedules, schedules_ensure_defaults

pytestmark = pytest.mark.django_db

PRODUCT_TYPES = [
    "job_discovery",
    "batch_generate_proposals",
    "batch_submit_applications",
    "cleanup_tasks",
    "calculate_metrics",
    "cleanup_browser_sessions",
    "track_outcomes",
    "analytics_refresh",
    "notifications_health_watch",
    "notifications_daily_digest",
    "watch_tick",
]


def handler(payload, context):
    return None


@pytest.fixture
def isolated_registry(monkeypatch):
    """A registry copy, so tests can add or drop task types without touching other tests."""
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))
    return registry._registry


def register_all(types) -> None:
    for name in types:
        if name not in registry._registry:
            registry.register(name, handler)


def test_the_products_default_schedules():
    table = {d.name: (d.task_type, d.cron_expression) for d in default_schedules()}
    assert table == {
        "job_discovery": ("job_discovery", "*/30 9-16 * * 1-5"),
        "proposal_generation": ("batch_generate_proposals", "0 * * * *"),
        "application_submission": ("batch_submit_applications", "0 */2 * * *"),
        "system_cleanup": ("cleanup_tasks", "0 2 * * *"),
        "metrics_calculation": ("calculate_metrics", "0 6 * * 1"),
        "metrics_snapshots": ("calculate_metrics", "5 * * * *"),
        "browser_session_cleanup": ("cleanup_browser_sessions", "0 */4 * * *"),
        "outcome_tracking": ("track_outcomes", "30 9-16/2 * * 1-5"),
        "analytics_refresh": ("analytics_refresh", "15 3 * * *"),
        "notifications_health_watch": ("notifications_health_watch", "* * * * *"),
        "notifications_daily_digest": ("notifications_daily_digest", "0 8 * * *"),
        "watch_tick": ("watch_tick", "* * * * *"),
    }


def test_business_hours_and_zone_come_from_settings(settings, isolated_registry):
    settings.BUSINESS_HOURS_START, settings.BUSINESS_HOURS_END = 8, 18
    settings.BUSINESS_DAYS = "mon-sat"
    settings.BUSINESS_TIMEZONE = "America/Chicago"
    settings.SCHEDULER_TIMEZONE = "Europe/London"
    register_all(PRODUCT_TYPES)
    schedules_ensure_defaults()
    discovery = ScheduledTask.objects.get(name="job_discovery")
    assert (discovery.cron_expression, discovery.timezone) == ("*/30 8-17 * * mon-sat", "America/Chicago")
    assert ScheduledTask.objects.get(name="system_cleanup").timezone == "Europe/London"


def test_unregistered_types_are_skipped_with_an_info_line_then_created_later(isolated_registry, caplog):
    for name in PRODUCT_TYPES:
        isolated_registry.pop(name, None)
    register_all(["cleanup_tasks"])
    with caplog.at_level(logging.INFO, logger="queue_app.scheduler"):
        created = schedules_ensure_defaults()
    assert [s.name for s in created] == ["system_cleanup"]
    skipped = [r for r in caplog.records if "is not registered yet" in r.getMessage()]
    assert len(skipped) == 11 and all(r.levelno == logging.INFO for r in skipped)

    register_all(PRODUCT_TYPES)  # the other apps are installed: the next start creates the rest
    created = schedules_ensure_defaults()
    assert {s.name for s in created} == {d.name for d in default_schedules()} - {"system_cleanup"}
    assert ScheduledTask.objects.count() == 12
    assert all(s.next_run_at for s in ScheduledTask.objects.all())


def test_defaults_never_overwrite_user_edits_and_are_not_duplicated(isolated_registry):
    register_all(PRODUCT_TYPES)
    schedules_ensure_defaults()
    discovery = ScheduledTask.objects.get(name="job_discovery")
    scheduling.schedule_update(schedule_id=discovery.pk, cron_expression="0 10 * * *", payload={"x": 1}, enabled=False)
    assert schedules_ensure_defaults() == []
    discovery.refresh_from_db()
    assert (discovery.cron_expression, discovery.payload, discovery.enabled) == ("0 10 * * *", {"x": 1}, False)
    assert ScheduledTask.objects.count() == 12


def test_a_default_whose_payload_the_type_refuses_is_logged_not_raised(isolated_registry, caplog):
    from rest_framework import serializers

    class NeedsKeywords(serializers.Serializer):
        keywords = serializers.ListField(child=serializers.CharField())

    isolated_registry.pop("job_discovery", None)
    registry.register("job_discovery", handler, payload_serializer=NeedsKeywords)
    schedules_ensure_defaults()
    assert not ScheduledTask.objects.filter(name="job_discovery").exists()
    assert "Default schedule job_discovery not created" in caplog.text
