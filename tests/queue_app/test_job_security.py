"""Redis is not trusted: jobs are JSON, nothing unpickles them, workers run only the task runner."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from rq.job import Callback, Job, JobStatus
from rq.webhook import Webhook

from queue_app import registry, services, transport
from queue_app.models import Task, TaskStatus
from tests.conftest import wait_for

WORKER_CLASSES = ["queue_app.worker.TaskSimpleWorker", "queue_app.worker.TaskWorker"]


class MakeDirectory:
    """Unpickling this creates a directory: the side effect that must never happen."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def record_call(*args) -> None:
    """A callback a planted job names: run, it creates the directory named in the environment."""
    os.mkdir(os.environ["SECURITY_TEST_MARKER"])


def _queue():
    return transport.get_queue(registry.queue_name("system", "normal"))


def _plant_pickled_job(tmp_path: Path, name: str) -> tuple[str, Path, Path]:
    """A job in a task queue whose data and meta are pickles that would create directories."""
    queue = _queue()
    job = queue.enqueue_call(transport.JOB_FUNCTION, args=("planted", "noop"), job_id=f"planted-{name}")
    data_marker, meta_marker = tmp_path / f"{name}-data", tmp_path / f"{name}-meta"
    payload = (transport.JOB_FUNCTION, None, (MakeDirectory(data_marker),), {})
    queue.connection.hset(
        job.key,
        mapping={
            "data": zlib.compress(pickle.dumps(payload)),
            "meta": pickle.dumps({"x": MakeDirectory(meta_marker)}),
        },
    )
    return job.id, data_marker, meta_marker


def _job_hash(job_id: str) -> dict[bytes, bytes]:
    return transport.get_connection().hgetall(Job.key_for(job_id))


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_a_worker_refuses_planted_jobs_without_unpickling_or_running_them_and_keeps_serving(
    processes, tmp_path, worker_class
):
    pickled_id, data_marker, meta_marker = _plant_pickled_job(tmp_path, "pickled")
    foreign_marker = tmp_path / "foreign"
    # A foreign function in the format the code of the day writes (pickle before this change).
    foreign = _queue().enqueue_call("os.mkdir", args=(str(foreign_marker),), job_id="planted-foreign")
    unreadable = _queue().enqueue_call(transport.JOB_FUNCTION, args=("x", "noop"), job_id="planted-unreadable")
    unreadable.connection.hset(unreadable.key, "status", "no-such-status")  # RQ cannot even build the job
    task = services.task_enqueue(task_type="noop")  # queued behind both
    worker = processes.worker(worker_class=worker_class)

    wait_for(lambda: Task.objects.get(pk=task.pk).status == TaskStatus.COMPLETED, timeout=60, message="task ran")
    assert not data_marker.exists() and not meta_marker.exists(), "a pickle from Redis was loaded"
    assert not foreign_marker.exists(), "a foreign job function ran"
    for job_id, reason in ((pickled_id, "not JSON"), (foreign.id, "'os.mkdir' is not one")):
        assert _job_hash(job_id)[b"status"] == JobStatus.FAILED.value.encode()
        failure = transport.TaskJob.fetch(job_id, connection=transport.get_connection()).latest_result()
        assert failure.exc_string.startswith("Refused by worker") and reason in failure.exc_string
        assert job_id.encode() in set(transport.get_connection().zrange(_queue().failed_job_registry.key, 0, -1))
    wait_for(lambda: "refused job planted-foreign" in processes.output(worker), message="refusal logged")
    assert "refused job planted-pickled" in processes.output(worker)
    assert "refused job planted-unreadable: its hash is unreadable" in processes.output(worker)
    assert worker.poll() is None


def test_a_worker_cleaning_its_registries_never_calls_a_callback_named_in_redis(processes, tmp_path):
    """RQ calls an abandoned job's failure callback when it cleans the started registry."""
    marker = tmp_path / "callback"
    queue = _queue()
    job = Job.create(
        transport.JOB_FUNCTION,
        args=("planted", "noop"),
        id="planted-abandoned",
        connection=queue.connection,
        origin=queue.name,
        on_failure=Callback(f"{__name__}.record_call"),
    )
    job.save()
    queue.connection.hset(job.key, "status", JobStatus.STARTED.value)
    started = queue.started_job_registry
    queue.connection.zadd(started.key, {f"{job.id}:planted-execution": 1})  # expired long ago
    processes.worker(SECURITY_TEST_MARKER=str(marker))
    wait_for(lambda: _job_hash(job.id).get(b"status") == b"failed", timeout=60, message="abandoned job cleaned")
    assert not marker.exists(), "a callback named in Redis was called"


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_tasks_travel_as_json_and_complete_with_both_worker_classes(processes, worker_class):
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 1})
    data = json.loads(zlib.decompress(_job_hash(str(task.id))[b"data"]))
    assert data == [transport.JOB_FUNCTION, None, [str(task.id), "noop"], {}]
    processes.worker(worker_class=worker_class)
    wait_for(lambda: Task.objects.get(pk=task.pk).status == TaskStatus.COMPLETED, timeout=60, message="completed")
    job = Job.fetch(str(task.id), connection=transport.get_connection())
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() is None  # RQ's Result, stored with the same serializer


@pytest.mark.django_db
def test_reading_a_planted_job_on_the_web_side_never_unpickles_it(tmp_path, django_capture_on_commit_callbacks):
    """Cancel removes the task's RQ job: reading that hash must not load a pickle planted there."""
    with django_capture_on_commit_callbacks(execute=True):
        task = services.task_enqueue(task_type="noop")
    key = Job.key_for(str(task.id))
    assert transport.get_connection().hget(key, "status") == b"queued"
    marker = tmp_path / "meta"
    transport.get_connection().hset(key, "meta", pickle.dumps({"x": MakeDirectory(marker)}))
    with django_capture_on_commit_callbacks(execute=True):
        services.task_cancel(task_id=task.id)
    assert not marker.exists(), "a pickle from Redis was loaded"
    assert not transport.get_connection().exists(key)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.CANCELLED


@pytest.mark.django_db
def test_job_refusal_names_what_this_app_never_enqueues(settings):
    connection = transport.get_connection()

    def job(func=transport.JOB_FUNCTION, **kwargs) -> Job:
        created = Job.create(func, args=("id", "noop"), connection=connection, **kwargs)
        created.save()
        return Job.fetch(created.id, connection=connection)

    assert transport.job_refusal(job()) is None
    assert transport.job_refusal(job("queue_app.scheduling.schedule_fire_due")) is None
    assert "not one this app's workers run" in transport.job_refusal(job("subprocess.call"))
    assert "callbacks" in transport.job_refusal(job(on_failure=Callback("os.system")))
    assert "callbacks" in transport.job_refusal(job(on_success=Callback("os.system")))
    assert "webhooks" in transport.job_refusal(job(webhooks=[Webhook("http://127.0.0.1:9/hook", "failed")]))
    planted = job()
    connection.hset(planted.key, "data", zlib.compress(json.dumps([transport.JOB_FUNCTION, "str", [], {}]).encode()))
    assert "plain function" in transport.job_refusal(Job.fetch(planted.id, connection=connection))
    settings.WORKER_EXTRA_JOB_FUNCTIONS = ["bench.raw_jobs.noop"]
    assert transport.job_refusal(job("bench.raw_jobs.noop")) is None


@pytest.mark.django_db
def test_the_apps_job_class_names_no_callback_and_sends_no_webhook(caplog):
    queue = _queue()
    assert queue.job_class is transport.TaskJob
    planted = Job.create(
        transport.JOB_FUNCTION, args=("id", "noop"), connection=queue.connection, on_failure=Callback("os.system")
    )
    planted.webhooks = [Webhook("http://127.0.0.1:9/hook", "failed")]
    planted.save()
    job = transport.TaskJob.fetch(planted.id, connection=queue.connection)
    assert job._failure_callback_name == "os.system"
    assert job.failure_callback is None and job.success_callback is None and job.stopped_callback is None
    job.send_webhooks(JobStatus.FAILED, exc_string="x")
    assert "not sent" in caplog.text


def test_rq_info_still_reads_the_queues(settings):
    task_queue = _queue()
    task_queue.enqueue_call(transport.JOB_FUNCTION, args=("x", "noop"))
    rq = Path(sys.executable).with_name("rq")
    result = subprocess.run(
        [str(rq), "info", "--url", settings.REDIS_URL], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"{task_queue.name}" in result.stdout


@pytest.mark.django_db
def test_django_rq_admin_shows_a_tasks_job(admin_client, django_capture_on_commit_callbacks):
    from django_rq.settings import get_queues_map

    with django_capture_on_commit_callbacks(execute=True):
        task = services.task_enqueue(task_type="noop")
    index = get_queues_map()[transport.queue_for(task)]
    listing = admin_client.get(f"/admin/rq/queues/{index}/")
    assert listing.status_code == 200 and str(task.id) in listing.content.decode()
    detail = admin_client.get(f"/admin/rq/queues/{index}/{task.id}/")
    assert detail.status_code == 200
    assert transport.JOB_FUNCTION in detail.content.decode()


@pytest.mark.django_db
def test_schedule_cron_jobs_are_json_too(redis_conn):
    from django_rq import get_scheduler

    from queue_app.scheduler import SCHEDULE_JOB_FUNCTION, schedule_job_id

    assert SCHEDULE_JOB_FUNCTION in transport.JOB_FUNCTIONS
    scheduler = get_scheduler("default")
    from django.utils import timezone

    scheduler.register_schedule(
        schedule_id=7, name="n", cron_expression="* * * * *", timezone_name="UTC", next_run_at=timezone.now()
    )
    raw = redis_conn.hgetall(Job.key_for(schedule_job_id(7)))
    assert json.loads(zlib.decompress(raw[b"data"]))[0] == SCHEDULE_JOB_FUNCTION
    assert json.loads(raw[b"meta"])["schedule_id"] == 7
    [(job, _)] = scheduler.get_jobs(with_times=True)
    assert job.meta["schedule_id"] == 7
