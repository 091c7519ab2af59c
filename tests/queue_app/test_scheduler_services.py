"""Schedule services: validation, create/update/delete/enable/disable/run-now, and exactly-once firing."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from core.actor import Actor
from core.errors import NotFound, ValidationFailed
from queue_app import scheduling
from queue_app.models import ScheduledTask, Task
from queue_app.scheduling import schedule_create, schedule_fire, schedule_update

pytestmark = pytest.mark.django_db


def make(**overrides) -> ScheduledTask:
    values = {"name": "every_minute", "cron_expression": "* * * * *", "task_type": "noop", "payload": {}}
    return schedule_create(**{**values, **overrides})


def test_create_computes_next_run_in_the_default_zone(settings):
    settings.SCHEDULER_TIMEZONE = "Asia/Kolkata"
    schedule = make(cron_expression="0 9 * * *")
    assert schedule.timezone == "Asia/Kolkata"
    local = schedule.next_run_at.astimezone(scheduling.timezone_validate("Asia/Kolkata"))
    assert (local.hour, local.minute) == (9, 0)
    assert schedule.next_run_at > datetime.now(UTC)


def test_create_collects_every_bad_field_in_one_error():
    with pytest.raises(ValidationFailed) as caught:
        make(name="bad name!", cron_expression="0 25 * * *", timezone="Nowhere/City", priority="urgent")
    assert set(caught.value.field_errors) == {"name", "cron_expression", "timezone", "priority"}
    assert not ScheduledTask.objects.exists()


def test_unknown_task_type_and_bad_payload_are_refused_like_an_enqueue():
    with pytest.raises(ValidationFailed) as caught:
        make(task_type="no_such_type")
    assert "Unknown task type 'no_such_type'" in caught.value.message
    assert "task_type" in caught.value.field_errors
    with pytest.raises(ValidationFailed) as caught:
        make(payload={"sleep_ms": -5})
    assert "payload.sleep_ms" in caught.value.field_errors
    with pytest.raises(ValidationFailed) as caught:
        make(payload=["not", "an", "object"])
    assert "payload" in caught.value.field_errors
    assert not ScheduledTask.objects.exists()


def test_duplicate_name_is_refused():
    make()
    with pytest.raises(ValidationFailed) as caught:
        make()
    assert "already exists" in caught.value.message
    assert ScheduledTask.objects.count() == 1


def test_payload_edit_keeps_next_run_but_cron_edit_recomputes_it():
    schedule = make(cron_expression="0 9 * * *")
    first_next = schedule.next_run_at
    schedule = schedule_update(schedule_id=schedule.pk, payload={"sleep_ms": 1})
    assert (schedule.payload, schedule.next_run_at) == ({"sleep_ms": 1}, first_next)
    schedule = schedule_update(schedule_id=schedule.pk, cron_expression="30 10 * * *")
    assert schedule.next_run_at.astimezone(UTC).strftime("%H:%M") == "10:30"


def test_update_validates_the_whole_schedule_and_writes_nothing_on_error():
    schedule = make()
    with pytest.raises(ValidationFailed) as caught:
        schedule_update(schedule_id=schedule.pk, cron_expression="* * *", payload={"sleep_ms": "x"})
    assert {"cron_expression", "payload.sleep_ms"} <= set(caught.value.field_errors)
    schedule.refresh_from_db()
    assert (schedule.cron_expression, schedule.payload) == ("* * * * *", {})


def test_disable_clears_next_run_and_enable_sets_it_again():
    schedule = make()
    schedule = scheduling.schedule_disable(schedule_id=schedule.pk)
    assert (schedule.enabled, schedule.next_run_at) == (False, None)
    schedule = scheduling.schedule_enable(schedule_id=schedule.pk)
    assert schedule.enabled and schedule.next_run_at > datetime.now(UTC)


def test_delete_and_unknown_schedule():
    schedule = make()
    scheduling.schedule_delete(schedule_id=schedule.pk)
    assert not ScheduledTask.objects.exists()
    with pytest.raises(NotFound):
        scheduling.schedule_delete(schedule_id=schedule.pk)
    with pytest.raises(NotFound):
        scheduling.schedule_get(name="nope")


def test_run_now_creates_a_task_and_records_it_even_when_disabled():
    schedule = make(payload={"sleep_ms": 2}, priority="high", enabled=False)
    task = scheduling.schedule_run_now(schedule_id=schedule.pk, actor=Actor.cli())
    assert (task.task_type, task.payload["sleep_ms"], task.priority, task.source) == ("noop", 2, "high", "cli")
    schedule.refresh_from_db()
    assert schedule.last_task_id == task.id


def test_fire_creates_one_task_with_the_schedule_firing_key_and_advances():
    schedule = make(cron_expression="*/5 * * * *", payload={"sleep_ms": 1})
    due = schedule.next_run_at
    result = schedule_fire(schedule_id=schedule.pk, firing_time=due, now=due + timedelta(seconds=1))
    assert result.fired
    task = result.task
    assert task.idempotency_key == f"schedule:{schedule.pk}:{due.isoformat()}"
    assert (task.source, task.payload["sleep_ms"], task.task_type) == ("scheduler", 1, "noop")
    schedule.refresh_from_db()
    assert (schedule.last_run_at, schedule.last_task_id) == (due, task.id)
    assert schedule.next_run_at == due + timedelta(minutes=5) == result.next_run_at

    again = schedule_fire(schedule_id=schedule.pk, firing_time=due, now=due + timedelta(seconds=2))
    assert not again.fired and again.next_run_at == due + timedelta(minutes=5)
    assert Task.objects.count() == 1


def test_missed_firing_fires_once_and_next_run_is_after_now():
    schedule = make(cron_expression="*/5 * * * *")
    due = schedule.next_run_at
    late = due + timedelta(hours=2, minutes=1)
    result = schedule_fire(schedule_id=schedule.pk, firing_time=due, now=late)
    assert result.fired
    assert result.next_run_at == due + timedelta(hours=2, minutes=5)
    assert Task.objects.count() == 1


def test_disabled_or_deleted_schedule_does_not_fire():
    schedule = make()
    due = schedule.next_run_at
    scheduling.schedule_disable(schedule_id=schedule.pk)
    assert schedule_fire(schedule_id=schedule.pk, firing_time=due).fired is False
    scheduling.schedule_delete(schedule_id=schedule.pk)
    result = schedule_fire(schedule_id=schedule.pk, firing_time=due)
    assert (result.fired, result.next_run_at) == (False, None)
    assert not Task.objects.exists()


def test_firing_whose_task_type_is_gone_is_logged_and_skipped(caplog, monkeypatch):
    schedule = make()
    ScheduledTask.objects.filter(pk=schedule.pk).update(task_type="vanished_type")
    result = schedule_fire(schedule_id=schedule.pk, firing_time=schedule.next_run_at)
    assert not result.fired and result.next_run_at > schedule.next_run_at
    assert "could not fire" in caplog.text and "vanished_type" in caplog.text
    assert not Task.objects.exists()


def test_existing_task_with_the_firing_key_is_reused(settings):
    """A second scheduler that lost the row claim race cannot create a second task for that firing."""
    schedule = make()
    due = schedule.next_run_at
    existing = Task.objects.create(task_type="noop", idempotency_key=scheduling.firing_key(schedule.pk, due))
    result = schedule_fire(schedule_id=schedule.pk, firing_time=due)
    assert result.task.id == existing.id
    assert Task.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_firings_of_one_due_time_create_one_task():
    schedule = make(cron_expression="* * * * *")
    due = schedule.next_run_at
    barrier = threading.Barrier(4)
    results = []

    def fire():
        try:
            barrier.wait()
            results.append(schedule_fire(schedule_id=schedule.pk, firing_time=due))
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(result.fired for result in results) == 1
    assert Task.objects.filter(source="scheduler").count() == 1


def test_schedule_whose_task_type_vanished_can_still_be_disabled_and_renamed_but_not_re_enabled():
    schedule = make()
    ScheduledTask.objects.filter(pk=schedule.pk).update(task_type="vanished_type")
    schedule = schedule_update(schedule_id=schedule.pk, enabled=False, name="old_job", description="app removed")
    assert (schedule.enabled, schedule.name) == (False, "old_job")
    with pytest.raises(ValidationFailed) as caught:
        scheduling.schedule_enable(schedule_id=schedule.pk)
    assert "Unknown task type 'vanished_type'" in caught.value.message
    schedule = schedule_update(schedule_id=schedule.pk, task_type="noop", enabled=True)
    assert schedule.enabled and schedule.next_run_at
