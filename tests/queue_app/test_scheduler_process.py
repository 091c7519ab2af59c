"""The real `manage.py rqscheduler` process (ScheduleScheduler) with a real worker.

Firings are made fast and exact with a sixth, seconds field (SCHEDULER_CRON_SECONDS=true, a
setting for tests and demos) and `--interval 1`; the cron, time-zone, claim and enqueue code
is the same as for a five-field expression. One test uses a five-field expression at the next
minute (up to ~60 s) to cover that path end to end.
"""

from __future__ import annotations

import os
import re
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from queue_app import registry, scheduling
from queue_app.models import ScheduledTask, Task, TaskStatus
from queue_app.scheduler import HEARTBEAT_KEY, SCHEDULE_JOB_PREFIX
from tests.conftest import subprocess_env, wait_for

FIRED = re.compile(r"Schedule (\S+) fired for (\S+): task")


@pytest.fixture(autouse=True)
def seconds_field(settings):
    settings.SCHEDULER_CRON_SECONDS = True


def start_scheduler(processes, tmp_path: Path, *, name: str = "scheduler", **env: str):
    env = {
        "SCHEDULER_CRON_SECONDS": "true",
        "DEFAULT_TASKS_ENABLED": "false",
        "LOG_DIR": str(tmp_path / f"{name}-logs"),
        **env,
    }
    return processes.start("rqscheduler", "--queue", "normal", "--interval", "1", env=subprocess_env(**env), name=name)


def stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=15)


def wait_cycles(redis_conn, count: int = 3, timeout: float = 30) -> None:
    """Wait until at least `count` scheduler cycles began after now (each writes a new heartbeat)."""
    seen = set()

    def advanced():
        value = redis_conn.get(HEARTBEAT_KEY)
        if value:
            seen.add(value)
        return len(seen) > count

    wait_for(advanced, timeout=timeout, interval=0.05, message=f"{count} scheduler cycles")


def fired_tasks(schedule: ScheduledTask):
    return Task.objects.filter(idempotency_key__startswith=f"schedule:{schedule.pk}:")


def firing_time(task: Task) -> datetime:
    return datetime.fromisoformat(task.idempotency_key.split(":", 2)[2])


def test_schedule_fires_and_its_task_completes(processes, tmp_path):
    schedule = scheduling.schedule_create(
        name="tick", cron_expression="* * * * * */2", task_type="noop", payload={"sleep_ms": 5}
    )
    processes.worker()
    scheduler = start_scheduler(processes, tmp_path)
    task = wait_for(
        lambda: fired_tasks(schedule).filter(status=TaskStatus.COMPLETED).first(),
        timeout=40,
        message="a completed firing",
    )
    assert task.source == "scheduler"
    assert task.result == {"ok": True, "attempt": 1}
    assert firing_time(task).second % 2 == 0
    schedule.refresh_from_db()
    assert schedule.last_run_at >= firing_time(task)
    assert schedule.next_run_at > schedule.last_run_at
    # Logged to stdout and to LOG_DIR/scheduler.log.
    assert "fired for" in processes.output(scheduler)
    wait_for(lambda: "fired for" in (tmp_path / "scheduler-logs" / "scheduler.log").read_text(), timeout=5)


def test_two_scheduler_processes_create_exactly_one_task_per_firing(processes, tmp_path, redis_conn):
    schedule = scheduling.schedule_create(name="ha", cron_expression="* * * * * *", task_type="noop")
    first = start_scheduler(processes, tmp_path, name="scheduler-a")
    second = start_scheduler(processes, tmp_path, name="scheduler-b")

    def both_fired_enough():
        outputs = processes.output(first), processes.output(second)
        return all(FIRED.search(output) for output in outputs) and fired_tasks(schedule).count() >= 8

    wait_for(both_fired_enough, timeout=60, message="both schedulers firing, 8 firings")
    scheduling.schedule_disable(schedule_id=schedule.pk)
    wait_cycles(redis_conn, 3)

    firings = [firing_time(task) for task in fired_tasks(schedule)]
    assert len(firings) == len(set(firings))
    logged = [
        when for output in (processes.output(first), processes.output(second)) for _, when in FIRED.findall(output)
    ]
    # Each firing went through the enqueue service in exactly one of the two processes.
    assert sorted(logged) == sorted(moment.isoformat() for moment in firings)
    assert all(moment.microsecond == 0 for moment in firings)


def test_edits_and_disabling_take_effect_without_a_restart(processes, tmp_path, redis_conn):
    schedule = scheduling.schedule_create(
        name="editable", cron_expression="* * * * * */2", task_type="noop", payload={"sleep_ms": 1}
    )
    start_scheduler(processes, tmp_path)
    wait_for(lambda: fired_tasks(schedule).exists(), timeout=40, message="first firing")

    scheduling.schedule_update(schedule_id=schedule.pk, payload={"sleep_ms": 7})
    wait_for(
        lambda: fired_tasks(schedule).filter(payload__sleep_ms=7).exists(),
        timeout=15,
        message="firing with new payload",
    )

    # A new cron (once a year) stops the every-2-seconds firings at once.
    scheduling.schedule_update(schedule_id=schedule.pk, cron_expression="0 0 1 1 *")
    edited_at = datetime.now(UTC)
    wait_cycles(redis_conn, 4)
    assert not fired_tasks(schedule).filter(created_at__gt=edited_at).exists()

    scheduling.schedule_update(schedule_id=schedule.pk, cron_expression="* * * * * */2")
    resumed_at = datetime.now(UTC)
    wait_for(
        lambda: fired_tasks(schedule).filter(created_at__gt=resumed_at).exists(), timeout=15, message="resumed firing"
    )

    scheduling.schedule_disable(schedule_id=schedule.pk)
    disabled_at = datetime.now(UTC)
    wait_cycles(redis_conn, 4)
    assert not fired_tasks(schedule).filter(created_at__gt=disabled_at).exists()
    members = [member.decode() for member in redis_conn.zrange("rq:scheduler:scheduled_jobs", 0, -1)]
    assert not [member for member in members if member.startswith(SCHEDULE_JOB_PREFIX)]

    scheduling.schedule_delete(schedule_id=schedule.pk)
    wait_cycles(redis_conn, 2)
    assert not fired_tasks(schedule).filter(created_at__gt=disabled_at).exists()


def test_scheduler_enabled_false_fires_nothing(processes, tmp_path, redis_conn):
    schedule = scheduling.schedule_create(name="muted", cron_expression="* * * * * *", task_type="noop")
    scheduler = start_scheduler(processes, tmp_path, SCHEDULER_ENABLED="false")
    wait_cycles(redis_conn, 4)
    assert not fired_tasks(schedule).exists()
    assert redis_conn.zcard("rq:scheduler:scheduled_jobs") == 0
    assert "SCHEDULER_ENABLED is false" in processes.output(scheduler)


def test_defaults_are_created_once_and_a_second_start_keeps_user_edits(processes, tmp_path, redis_conn):
    known = set(registry.all_types())
    expected = {d.name for d in scheduling.default_schedules() if d.task_type in known}
    assert "system_cleanup" in expected  # cleanup_tasks is the queue app's own task type

    first = start_scheduler(processes, tmp_path, name="scheduler-1", DEFAULT_TASKS_ENABLED="true")
    wait_for(lambda: "Default schedules:" in processes.output(first), timeout=30, message="defaults ensured")
    assert set(ScheduledTask.objects.values_list("name", flat=True)) == expected
    stop(first)

    cleanup = ScheduledTask.objects.get(name="system_cleanup")
    scheduling.schedule_update(schedule_id=cleanup.pk, cron_expression="30 3 * * *", payload={"days": 30})
    second = start_scheduler(processes, tmp_path, name="scheduler-2", DEFAULT_TASKS_ENABLED="true")
    wait_for(lambda: "Default schedules: 0 created" in processes.output(second), timeout=30, message="second start")
    names = list(ScheduledTask.objects.values_list("name", flat=True))
    assert sorted(names) == sorted(expected)  # no duplicates
    cleanup.refresh_from_db()
    assert (cleanup.cron_expression, cleanup.payload) == ("30 3 * * *", {"days": 30})
    skipped = {d.name for d in scheduling.default_schedules()} - expected
    for name in skipped:
        assert f"Default schedule {name} skipped" in processes.output(second)


def test_schedule_fires_at_its_own_zones_wall_clock_not_the_process_zone(processes, tmp_path):
    """The process runs in Los Angeles (TIME_ZONE sets TZ); the schedule says 'at H:M:S in Kolkata'."""
    zone = ZoneInfo("Asia/Kolkata")
    # Far enough ahead for the scheduler's start-up on a loaded machine.
    target = (datetime.now(zone) + timedelta(seconds=15)).replace(microsecond=0)
    cron = f"{target.minute} {target.hour} * * * {target.second}"
    schedule = scheduling.schedule_create(name="kolkata", cron_expression=cron, task_type="noop", timezone=str(zone))
    assert schedule.next_run_at == target.astimezone(UTC)
    start_scheduler(processes, tmp_path, TIME_ZONE="America/Los_Angeles")
    task = wait_for(lambda: fired_tasks(schedule).first(), timeout=60, message="the Kolkata firing")
    assert firing_time(task) == target.astimezone(UTC)
    assert target <= task.created_at < target + timedelta(seconds=10)


def test_five_field_cron_fires_at_the_next_minute_in_the_schedules_zone(processes, tmp_path):
    """`M H * * *` in Asia/Kolkata (UTC+05:30) with the process in Los Angeles: fires at that minute."""
    zone = ZoneInfo("Asia/Kolkata")
    now = datetime.now(zone)
    target = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (target - now).total_seconds() < 20:  # too close for the scheduler's start-up: take the one after
        target += timedelta(minutes=1)
    schedule = scheduling.schedule_create(
        name="kolkata_minute",
        cron_expression=f"{target.minute} {target.hour} * * *",
        task_type="noop",
        timezone=str(zone),
    )
    start_scheduler(processes, tmp_path, TIME_ZONE="America/Los_Angeles", SCHEDULER_CRON_SECONDS="false")
    task = wait_for(lambda: fired_tasks(schedule).first(), timeout=110, interval=0.2, message="the minute firing")
    assert firing_time(task) == target.astimezone(UTC)
    assert target <= task.created_at < target + timedelta(seconds=5)
    assert firing_time(task).astimezone(zone).strftime("%H:%M") == target.strftime("%H:%M")


def test_a_firing_between_cycles_is_on_time_with_a_long_interval(processes, tmp_path):
    """With `--interval 30` the scheduler still wakes at the next firing instead of up to 30 s later."""
    target = (datetime.now(UTC) + timedelta(seconds=20)).replace(microsecond=0)  # past the start-up
    schedule = scheduling.schedule_create(
        name="on_time",
        cron_expression=f"{target.minute} {target.hour} * * * {target.second}",
        task_type="noop",
        timezone="UTC",
    )
    env = subprocess_env(SCHEDULER_CRON_SECONDS="true", DEFAULT_TASKS_ENABLED="false", LOG_DIR=str(tmp_path / "logs"))
    processes.start("rqscheduler", "--queue", "normal", "--interval", "30", env=env, name="scheduler")
    task = wait_for(lambda: fired_tasks(schedule).first(), timeout=60, message="the on-time firing")
    assert firing_time(task) == target
    assert target <= task.created_at < target + timedelta(seconds=2)
