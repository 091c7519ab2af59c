"""One scheduler cycle, in process: sync rows to cron jobs, fire due ones, heartbeat, maintenance hook."""

import json
from datetime import UTC, datetime, timedelta

import django_rq
import pytest

from queue_app import maintenance, scheduling, transport
from queue_app.models import ScheduledTask, Task
from queue_app.scheduler import HEARTBEAT_INFO_KEY, HEARTBEAT_KEY, ScheduleScheduler, schedule_job_id

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduler():
    instance = django_rq.get_scheduler("normal", interval=2)
    assert isinstance(instance, ScheduleScheduler)  # settings.RQ["SCHEDULER_CLASS"]
    return instance


def make(name="s1", cron="*/5 * * * *", **extra) -> ScheduledTask:
    return scheduling.schedule_create(name=name, cron_expression=cron, task_type="noop", **extra)


def test_cycle_registers_each_enabled_schedule_as_a_cron_job_at_its_next_run(scheduler):
    first = make("first", "0 9 * * *", timezone="America/New_York")
    make("off", enabled=False)
    assert scheduler.run_cycle() is True
    assert scheduler.registered_schedules() == {first.pk: int(first.next_run_at.timestamp())}
    job = scheduler.job_class.fetch(schedule_job_id(first.pk), connection=scheduler.connection)
    assert job.meta["cron_string"] == "0 9 * * *"
    assert job.meta["timezone"] == "America/New_York"
    assert job.result_ttl == 600  # never rq-scheduler's -1 (kept forever)


def test_edit_disable_and_delete_reach_the_cron_jobs_at_the_next_cycle(scheduler):
    schedule = make()
    other = make("other")
    scheduler.run_cycle()
    schedule = scheduling.schedule_update(schedule_id=schedule.pk, cron_expression="0 3 * * *")
    scheduling.schedule_disable(schedule_id=other.pk)
    scheduler.run_cycle()
    assert scheduler.registered_schedules() == {schedule.pk: int(schedule.next_run_at.timestamp())}
    scheduling.schedule_delete(schedule_id=schedule.pk)
    scheduler.run_cycle()
    assert scheduler.registered_schedules() == {}
    assert not scheduler.connection.exists(scheduler.job_class.key_for(schedule_job_id(schedule.pk)))


def test_due_schedule_fires_once_and_is_moved_to_its_next_run(scheduler):
    schedule = make()
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    ScheduledTask.objects.filter(pk=schedule.pk).update(next_run_at=due)
    scheduler.run_cycle()
    task = Task.objects.get()
    assert task.idempotency_key == scheduling.firing_key(schedule.pk, due)
    schedule.refresh_from_db()
    assert schedule.next_run_at > datetime.now(UTC)
    assert scheduler.registered_schedules() == {schedule.pk: int(schedule.next_run_at.timestamp())}
    # The task is in its RQ queue (its family's, at its priority).
    assert str(task.id) in django_rq.get_queue(transport.queue_for(task)).job_ids
    scheduler.run_cycle()
    assert Task.objects.count() == 1


def test_scheduler_disabled_fires_nothing_and_drops_the_cron_jobs(scheduler, settings):
    schedule = make()
    scheduler.run_cycle()
    assert scheduler.registered_schedules()
    ScheduledTask.objects.filter(pk=schedule.pk).update(next_run_at=datetime.now(UTC) - timedelta(seconds=5))
    settings.SCHEDULER_ENABLED = False
    scheduler.run_cycle()
    assert scheduler.registered_schedules() == {}
    assert not Task.objects.exists()


def test_heartbeat_key_holds_the_cycle_time_and_expires_after_three_intervals(scheduler, redis_conn):
    before = datetime.now(UTC)
    scheduler.run_cycle()
    beat = datetime.fromisoformat(redis_conn.get(HEARTBEAT_KEY).decode())
    assert before <= beat <= datetime.now(UTC)
    assert 0 < redis_conn.ttl(HEARTBEAT_KEY) <= 6
    info = json.loads(redis_conn.get(HEARTBEAT_INFO_KEY))
    assert info["pid"] > 0 and info["host"] and info["enabled"] is True


def test_maintenance_hook_runs_every_cycle_and_its_errors_never_stop_the_scheduler(scheduler, monkeypatch, caplog):
    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("sweep exploded")

    monkeypatch.setattr(maintenance, "on_scheduler_cycle", broken)
    schedule = make()
    ScheduledTask.objects.filter(pk=schedule.pk).update(next_run_at=datetime.now(UTC) - timedelta(seconds=1))
    scheduler.run_cycle()
    scheduler.run_cycle()
    assert len(calls) == 2
    assert "sweep exploded" in caplog.text
    assert Task.objects.count() == 1  # firing still happened


def test_cycle_is_skipped_while_another_scheduler_holds_the_lock(scheduler, redis_conn):
    schedule = make()
    ScheduledTask.objects.filter(pk=schedule.pk).update(next_run_at=datetime.now(UTC) - timedelta(seconds=1))
    redis_conn.set(scheduler.scheduler_lock_key, "other", ex=30)
    assert scheduler.run_cycle() is False
    assert redis_conn.get(HEARTBEAT_KEY)  # still beating
    assert not Task.objects.exists()


@pytest.mark.filterwarnings("ignore::FutureWarning")  # rq-scheduler calls crontab.next() without default_utc
def test_plain_rq_scheduler_cron_jobs_still_work_and_get_a_result_ttl(scheduler):
    job = scheduler.cron("* * * * *", func="queue_app.tasks.noop", args=({}, None))
    assert job.result_ttl == 600
    scheduler.connection.zadd(scheduler.scheduled_jobs_key, {job.id: 1})  # due long ago
    scheduler.run_cycle()
    assert job.id in django_rq.get_queue("normal").job_ids


def test_redis_outage_during_a_cycle_is_logged_and_the_scheduler_carries_on(scheduler, monkeypatch, caplog):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def down(*args, **kwargs):
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr(scheduler.connection, "expire", down)
    assert scheduler.run_cycle() is False
    assert "Redis unreachable" in caplog.text
    monkeypatch.undo()
    assert scheduler.run_cycle() is True


def test_job_function_of_a_plain_scheduler_fires_the_rows_due_time_once():
    """If a plain rq-scheduler moved a schedule's cron job to a worker, it still fires once."""
    schedule = make()
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=3)
    ScheduledTask.objects.filter(pk=schedule.pk).update(next_run_at=due)
    task_id = scheduling.schedule_fire_due(schedule.pk)
    assert Task.objects.get().id.hex == task_id.replace("-", "")
    assert scheduling.schedule_fire_due(schedule.pk) is None
    assert Task.objects.count() == 1
