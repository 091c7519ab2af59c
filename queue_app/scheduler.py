"""The `manage.py rqscheduler` process: rq-scheduler's loop that syncs schedules, fires them, runs upkeep, beats."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone
from redis.exceptions import RedisError

from queue_app import maintenance, scheduling
from queue_app.rq_adapter import SchedulerBase

logger = logging.getLogger(__name__)  # queue_app.scheduler: stdout and LOG_DIR/scheduler.log

HEARTBEAT_KEY = "queue:scheduler:heartbeat"  # ISO time of the last cycle; expires after 3 intervals
HEARTBEAT_INFO_KEY = "queue:scheduler:heartbeat:info"  # JSON: host, pid, name, interval, enabled
SCHEDULE_JOB_PREFIX = "queue-schedule-"  # rq-scheduler job id of ScheduledTask <pk>
SCHEDULE_JOB_FUNCTION = "queue_app.scheduling.schedule_fire_due"


def schedule_job_id(schedule_id: int) -> str:
    return f"{SCHEDULE_JOB_PREFIX}{schedule_id}"


class ScheduleScheduler(SchedulerBase):
    """rq-scheduler's Scheduler, firing ScheduledTask rows (settings.RQ['SCHEDULER_CLASS']).

    Each enabled schedule is a cron job in rq-scheduler's sorted set whose score is the row's
    next_run_at (computed in the schedule's own time zone). Every cycle, under rq-scheduler's
    lock: sync the rows to the cron jobs, fire the due ones through the enqueue service (one
    task per firing, whatever the number of scheduler processes), run the maintenance hook.
    Every cycle, lock or not: write the heartbeat key.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.log = logger
        self._was_disabled: bool | None = None

    # --- rq-scheduler's own cron/interval jobs: results expire ------------------

    def cron(self, cron_string, func, *args, **kwargs):
        # rq-scheduler keeps cron results forever (result_ttl=-1) unless told otherwise.
        if kwargs.get("result_ttl", -1) == -1:
            kwargs["result_ttl"] = settings.TASK_RESULT_TTL
        return super().cron(cron_string, func, *args, **kwargs)

    def schedule(self, scheduled_time, func, *args, **kwargs):
        if kwargs.get("interval") is not None and kwargs.get("result_ttl") in (None, -1):
            kwargs["result_ttl"] = settings.TASK_RESULT_TTL
        return super().schedule(scheduled_time, func, *args, **kwargs)

    # --- Registration of schedules (called by scheduling.schedules_sync) --------

    def registered_schedules(self) -> dict[int, int]:
        """{schedule id: score (epoch seconds)} of the schedules' cron jobs."""
        registered = {}
        for member, score in self.connection.zrange(self.scheduled_jobs_key, 0, -1, withscores=True):
            job_id = member.decode() if isinstance(member, bytes) else member
            if job_id.startswith(SCHEDULE_JOB_PREFIX):
                suffix = job_id[len(SCHEDULE_JOB_PREFIX) :]
                if suffix.isdigit():
                    registered[int(suffix)] = int(score)
        return registered

    def register_schedule(
        self, *, schedule_id: int, name: str, cron_expression: str, timezone_name: str, next_run_at: datetime
    ) -> None:
        job = self._create_job(
            SCHEDULE_JOB_FUNCTION,
            args=(schedule_id,),
            commit=False,
            result_ttl=settings.TASK_RESULT_TTL,
            id=schedule_job_id(schedule_id),
            description=f"schedule {name}: {cron_expression} ({timezone_name})",
            timeout=300,
        )
        job.meta.update(
            {
                "schedule_id": schedule_id,
                "schedule_name": name,
                "cron_string": cron_expression,
                "timezone": timezone_name,
                "use_local_timezone": False,
            }
        )
        job.save()
        self.connection.zadd(self.scheduled_jobs_key, {job.id: int(next_run_at.timestamp())})

    def unregister_schedule(self, *, schedule_id: int) -> None:
        job_id = schedule_job_id(schedule_id)
        with self.connection.pipeline() as pipe:
            pipe.zrem(self.scheduled_jobs_key, job_id)
            pipe.delete(self.job_class.key_for(job_id))
            pipe.execute()

    # --- The cycle ---------------------------------------------------------------

    def enqueue_jobs(self):
        """Sync schedules, then fire the due ones; other rq-scheduler jobs are enqueued as usual."""
        scheduling.schedules_sync(scheduler=self)
        return self.fire_due()

    def fire_due(self):
        due = list(self.get_jobs_to_queue(with_times=True))
        for job, due_at in due:
            schedule_id = job.meta.get("schedule_id")
            if schedule_id is None:
                self.enqueue_job(job)
            else:
                self._fire(job.id, int(schedule_id), due_at.replace(tzinfo=UTC))
        return [job for job, _ in due]

    def _fire(self, job_id: str, schedule_id: int, firing_time: datetime) -> None:
        try:
            result = scheduling.schedule_fire(schedule_id=schedule_id, firing_time=firing_time)
        except Exception:
            # Left due in the sorted set: fired (once) at the next cycle.
            logger.exception("Schedule %s: firing for %s failed; trying again next cycle", schedule_id, firing_time)
            return
        if result.next_run_at is None:
            self.unregister_schedule(schedule_id=schedule_id)
        else:
            self.connection.zadd(self.scheduled_jobs_key, {job_id: int(result.next_run_at.timestamp())})

    def write_heartbeat(self, now: datetime) -> None:
        ttl = max(3 * int(self._interval), 3)
        info = {
            "at": now.isoformat(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "name": self.name,
            "interval": self._interval,
            "enabled": bool(settings.SCHEDULER_ENABLED),
        }
        with self.connection.pipeline() as pipe:
            pipe.set(HEARTBEAT_KEY, now.isoformat(), ex=ttl)
            pipe.set(HEARTBEAT_INFO_KEY, json.dumps(info), ex=ttl)
            pipe.execute()

    def run_maintenance(self) -> None:
        try:
            maintenance.on_scheduler_cycle()
        except Exception:
            logger.exception("maintenance.on_scheduler_cycle() failed; the scheduler carries on")

    def run_cycle(self) -> bool:
        """One cycle. Returns whether this process held the lock (and so did the work)."""
        close_old_connections()
        try:
            self.heartbeat()  # rq-scheduler's own instance key
            self.write_heartbeat(timezone.now())
            locked = self.acquire_lock()
        except RedisError:
            logger.exception("Redis unreachable; skipping this cycle")
            return False
        if not locked:
            logger.debug("Another scheduler holds the lock; skipping this cycle")
            return False
        try:
            enabled = bool(settings.SCHEDULER_ENABLED)
            if not enabled and self._was_disabled is not True:
                logger.warning("SCHEDULER_ENABLED is false: no schedule fires")
            self._was_disabled = not enabled
            try:
                if enabled:
                    self.enqueue_jobs()
                else:
                    scheduling.schedules_sync(scheduler=self)  # drops every schedule's cron job
            except Exception:
                logger.exception("Scheduler cycle failed; trying again next cycle")
            self.run_maintenance()
        finally:
            try:
                self.remove_lock()
            except RedisError:
                logger.warning("Could not remove the scheduler lock; it expires by itself")
            close_old_connections()
        return True

    def on_start(self) -> None:
        logger.info(
            "Scheduler %s started on %s (pid %s): interval %ss, SCHEDULER_ENABLED=%s",
            self.name,
            socket.gethostname(),
            os.getpid(),
            self._interval,
            settings.SCHEDULER_ENABLED,
        )
        if not settings.DEFAULT_TASKS_ENABLED:
            return
        try:
            created = scheduling.schedules_ensure_defaults()
        except Exception:
            logger.exception("Could not create the default schedules; carrying on without them")
            return
        logger.info("Default schedules: %d created", len(created))

    def next_due_at(self) -> float | None:
        """Epoch seconds of the earliest cron job in the sorted set, if any."""
        try:
            first = self.connection.zrange(self.scheduled_jobs_key, 0, 0, withscores=True)
        except RedisError:
            return None
        return float(first[0][1]) if first else None

    def run_firings(self) -> None:
        """Between cycles: fire what is due now (rows are re-checked, so edits since the last sync hold)."""
        close_old_connections()
        try:
            if not settings.SCHEDULER_ENABLED or not self.acquire_lock():
                return
        except RedisError:
            return
        try:
            self.fire_due()
        except Exception:
            logger.exception("Firing due schedules failed; trying again next cycle")
        finally:
            try:
                self.remove_lock()
            except RedisError:
                logger.warning("Could not remove the scheduler lock; it expires by itself")
            close_old_connections()

    def run(self, burst: bool = False) -> None:
        """Full cycles every `interval` seconds; in between, wake at the next firing so it is on time."""
        self.register_birth()
        self._install_signal_handlers()
        try:
            self.on_start()
            next_cycle = 0.0
            while True:
                if time.time() >= next_cycle:
                    next_cycle = time.time() + self._interval
                    self.run_cycle()
                    if burst:
                        break
                else:
                    self.run_firings()
                    # Crash sweep and reconcile keep their own pace (MAINTENANCE_INTERVAL, throttled
                    # cluster-wide in Redis), however long --interval is.
                    self.run_maintenance()
                wake = min(next_cycle, time.time() + settings.MAINTENANCE_INTERVAL)
                due = self.next_due_at()
                if due is not None and time.time() < due < next_cycle:
                    wake = due + 0.05  # scores are whole seconds; due once the clock reaches them
                time.sleep(max(0.0, wake - time.time()))
        finally:
            try:
                self.remove_lock()
                self.register_death()
            except RedisError:
                logger.warning("Could not register the scheduler's death in Redis")
            connections.close_all()
            logger.info("Scheduler %s stopped", self.name)
