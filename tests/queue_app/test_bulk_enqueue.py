"""The bulk enqueue's fast paths: RQ job hashes from a template, Task objects and COPY rows without
Django's per-field work, equal payloads validated once. Each is checked against the slow path it replaces."""

from __future__ import annotations

import uuid
import zlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from core.actor import Actor
from queue_app import services, transport
from queue_app.models import Task, TaskStatus
from queue_app.rq_adapter import bulk, job_refusal
from queue_app.rq_adapter.jobs import _JobData

pytestmark = pytest.mark.django_db

# Set by RQ from the clock, per job; the template sets one time for the whole push.
TIMESTAMPS = {b"created_at", b"enqueued_at"}


def _task(**fields) -> SimpleNamespace:
    values = {"id": uuid.uuid4(), "task_type": "noop", "timeout": 300, "max_retries": 3, "attempts": 0, "run_at": None}
    return SimpleNamespace(**{**values, **fields})


def _push_with_rq(queue_name: str, task) -> None:
    """What RQ's own enqueue_many writes for one task's job (the path the template replaces)."""
    job_data = _JobData(transport.retry_intervals)
    with transport.get_connection().pipeline() as pipe:
        transport.get_queue(queue_name).enqueue_many([job_data(task)], pipeline=pipe)
        pipe.execute()


def _push_templated(queue_name: str, tasks: list) -> None:
    bulk.push_jobs_templated({queue_name: (tasks, [])}, retry_intervals=transport.retry_intervals)


@pytest.mark.parametrize("attempts", [0, 2])
def test_a_templated_job_hash_is_field_for_field_the_hash_rq_writes(redis_conn, attempts):
    by_rq = _task(attempts=attempts)
    _push_with_rq("system.normal", by_rq)
    group = [_task(attempts=attempts) for _ in range(3)]
    _push_templated("system.normal", group)

    mine = group[-1]
    rq_hash = redis_conn.hgetall(Job.key_for(str(by_rq.id)))
    my_hash = redis_conn.hgetall(Job.key_for(str(mine.id)))
    assert set(my_hash) == set(rq_hash)
    old, new = str(by_rq.id).encode(), str(mine.id).encode()
    for field, value in rq_hash.items():
        if field in TIMESTAMPS:
            assert len(my_hash[field]) == len(value) and my_hash[field].endswith(b"Z")
        elif field == b"data":  # compressed JSON naming the job's id: the same bytes with the other id
            assert my_hash[field] == zlib.compress(zlib.decompress(value).replace(old, new))
        else:
            assert my_hash[field] == value.replace(old, new), field
    # RQ reads it back as its own, and a worker of this app would run it.
    job = Job.fetch(str(mine.id), connection=redis_conn)
    assert (job.func_name, job.args) == (transport.JOB_FUNCTION, [str(mine.id), "noop"])
    assert (job.origin, job.timeout) == ("system.normal", 300)
    assert (job.retries_left, job.retry_intervals) == (3 - attempts, [1, 2, 4])
    assert job.get_status() == "queued" and job.enqueued_at is not None
    assert job_refusal(job) is None
    assert transport.get_queue("system.normal").job_ids == [str(by_rq.id), *(str(task.id) for task in group)]
    assert redis_conn.smembers("rq:queues") == {b"rq:queue:system.normal"}


def test_a_template_is_cut_only_where_the_job_id_is_and_checked_against_rq():
    queue = transport.get_queue("system.normal")
    job_data = _JobData(transport.retry_intervals)
    first, second = _task(), _task()
    template = bulk.build_template(queue, job_data(first), job_data(second))
    assert {field for field, _, _ in template.cut} == {"description"}
    assert all(str(first.id) not in str(value) for _, value in template.constant)
    # A field RQ fills differently from job to job (here: the timeout) is not templated.
    with pytest.raises(bulk.TemplateMismatch, match="timeout"):
        bulk.build_template(queue, job_data(first), job_data(_task(timeout=9)))


def test_a_group_whose_template_does_not_match_is_written_by_rq(monkeypatch, redis_conn, caplog):
    def mismatch(*args, **kwargs):
        raise bulk.TemplateMismatch("test")

    monkeypatch.setattr(bulk, "build_template", mismatch)
    monkeypatch.setattr(bulk, "_templates", {})
    group = [_task() for _ in range(3)]
    _push_templated("system.normal", group)
    assert "RQ writes these jobs" in caplog.text
    assert transport.get_queue("system.normal").job_ids == [str(task.id) for task in group]
    assert Job.fetch(str(group[0].id), connection=redis_conn).get_status() == "queued"


def test_templates_are_kept_per_process_and_follow_the_settings(settings, redis_conn):
    bulk._templates.clear()
    _push_templated("system.normal", [_task()])
    _push_templated("system.normal", [_task(), _task()])
    assert len(bulk._templates) == 1  # built and checked once
    settings.TASK_RESULT_TTL = 77
    later = _task()
    _push_templated("system.normal", [later])
    assert len(bulk._templates) == 2
    assert redis_conn.hmget(Job.key_for(str(later.id)), "result_ttl", "failure_ttl") == [b"77", b"77"]


@pytest.mark.parametrize("b_templated", [True, False])
def test_each_queue_gets_its_jobs_in_request_order_across_templates(monkeypatch, redis_conn, b_templated):
    """[A, A, B, A, B, B, B, A] lands in that order, B templated or written by RQ (as RQ's enqueue_many keeps it)."""
    monkeypatch.setattr(bulk, "_templates", {})
    monkeypatch.setattr(bulk, "CHUNK", 2)
    if not b_templated:
        template_for = bulk.template_for
        monkeypatch.setattr(
            bulk,
            "template_for",
            lambda name, task, data: None if task.timeout == 60 else template_for(name, task, data),
        )
    kinds = ["A", "A", "B", "A", "B", "B", "B", "A"]
    tasks = [_task(timeout=300 if kind == "A" else 60) for kind in kinds]
    later = _task(run_at=timezone.now() + timedelta(hours=1))
    bulk.push_jobs_templated(
        {"system.normal": (tasks, [later]), "system.low": (tasks[:0], [])}, retry_intervals=transport.retry_intervals
    )
    assert transport.get_queue("system.normal").job_ids == [str(task.id) for task in tasks]
    assert [Job.fetch(str(task.id), connection=redis_conn).timeout for task in tasks] == [t.timeout for t in tasks]
    scheduled = ScheduledJobRegistry(queue=transport.get_queue("system.normal"))
    assert scheduled.get_job_ids() == [str(later.id)]


def test_a_job_with_a_ttl_is_not_templated():
    """RQ's _persist_job gives the hash of a job with a ttl an expiry, which the script does not set."""
    from rq import Queue

    queue = transport.get_queue("system.normal")
    first, second = _task(), _task()

    def data(task, ttl):
        return Queue.prepare_data(
            transport.JOB_FUNCTION, args=(str(task.id), "noop"), job_id=str(task.id), timeout=300, ttl=ttl
        )

    bulk.build_template(queue, data(first, None), data(second, None))
    with pytest.raises(bulk.TemplateMismatch, match="ttl"):
        bulk.build_template(queue, data(first, 60), data(second, 60))


def test_a_template_look_up_survives_a_clear_from_another_thread(monkeypatch):
    """The membership test and the read were two look-ups: a clear() between them raised KeyError."""

    class ClearedBetweenLookups(dict):
        def __contains__(self, key):
            found = super().__contains__(key)
            self.clear()  # another thread's clear(), right after the test
            return found

        def get(self, key, default=None):
            return super().get(key, default)

    templates = ClearedBetweenLookups()
    monkeypatch.setattr(bulk, "_templates", templates)
    job_data = _JobData(transport.retry_intervals)
    template = bulk.template_for("system.normal", _task(), job_data)
    assert template is not None
    assert bulk.template_for("system.normal", _task(), job_data) == template


def test_large_jobs_go_in_chunks_in_order(monkeypatch, redis_conn):
    monkeypatch.setattr(bulk, "CHUNK", 3)
    group = [_task() for _ in range(10)]
    _push_templated("system.low", group)
    assert transport.get_queue("system.low").job_ids == [str(task.id) for task in group]
    assert all(redis_conn.hget(Job.key_for(str(task.id)), "status") == b"queued" for task in group)


def test_a_mixed_bulk_lands_where_single_enqueues_would(django_capture_on_commit_callbacks, redis_conn):
    run_at = timezone.now() + timedelta(hours=1)
    requests = [services.EnqueueRequest(task_type="noop") for _ in range(20)]  # templated
    requests += [services.EnqueueRequest(task_type="noop", priority="high") for _ in range(2)]  # another queue
    requests += [services.EnqueueRequest(task_type="noop", max_retries=0) for _ in range(10)]  # another template
    requests += [services.EnqueueRequest(task_type="noop", run_at=run_at) for _ in range(10)]  # delayed: RQ
    with django_capture_on_commit_callbacks(execute=True):
        tasks = services.task_enqueue_many(requests=requests, actor=Actor.system())
    ids = [str(task.id) for task in tasks]
    assert transport.get_queue("system.normal").job_ids == ids[:20] + ids[22:32]
    assert transport.get_queue("system.high").job_ids == ids[20:22]
    scheduled = ScheduledJobRegistry(queue=transport.get_queue("system.normal"))
    assert sorted(scheduled.get_job_ids()) == sorted(ids[32:])
    assert Job.fetch(ids[25], connection=redis_conn).retries_left is None  # max_retries=0: no retry
    assert Job.fetch(ids[0], connection=redis_conn).retries_left == 3
    assert transport.missing_jobs(ids) == []
    assert Task.objects.filter(status=TaskStatus.QUEUED).count() == 32


@pytest.mark.parametrize("worker_class", [None, "queue_app.batch_worker.TaskBatchWorker"])
def test_a_worker_runs_templated_jobs_to_completion(processes, worker_class):
    tasks = services.task_enqueue_many(requests=[services.EnqueueRequest(task_type="noop") for _ in range(12)])
    worker = processes.worker(burst=True, worker_class=worker_class)
    assert worker.wait(timeout=60) == 0, processes.output(worker)
    assert Task.objects.filter(id__in=[task.id for task in tasks], status=TaskStatus.COMPLETED).count() == 12
    job = Job.fetch(str(tasks[0].id), connection=transport.get_connection())
    assert job.get_status() == "finished"


def _fields(task: Task) -> dict:
    values = {key: value for key, value in task.__dict__.items() if key != "_state"}
    state = task._state
    return {**values, "_adding": state.adding, "_db": state.db, "_cache": dict(state.fields_cache)}


@pytest.mark.parametrize("with_user", [False, True])
def test_new_task_is_the_instance_task_init_makes(user, with_user):
    given = {
        "task_type": "noop",
        "payload": {"sleep_ms": 1},
        "priority": "high",
        "status": TaskStatus.QUEUED,
        "max_retries": 2,
        "timeout": 30,
        "run_at": None,
        "enqueued_at": timezone.now(),
        "idempotency_key": None,
        "source": "api",
        "requested_by": user if with_user else None,
    }
    made, expected = services.new_task(**given), Task(**given)
    assert isinstance(made.id, uuid.UUID) and made.id != expected.id
    made_fields, expected_fields = _fields(made), _fields(expected)
    made_fields.pop("id"), expected_fields.pop("id")
    assert made_fields == expected_fields
    assert services.new_task(task_type="noop").payload is not services.new_task(task_type="noop").payload
    with pytest.raises(TypeError):
        services.new_task(no_such_field=1)


def _comparable(row: list) -> list:
    return [getattr(value, "obj", value) for value in row]  # psycopg's Jsonb wrapper: compare what it wraps


def test_copy_rows_are_the_rows_save_would_write(user):
    from django.db import connection

    from queue_app.db import _copy_rows, _insert_fields, _row_values

    now = timezone.now()
    tasks = [
        services.new_task(task_type="noop", payload={"a": [1, "x"]}, status="queued", enqueued_at=now),
        services.new_task(task_type="noop", run_at=now + timedelta(hours=1), requested_by=user, max_retries=0),
        services.new_task(task_type="noop", idempotency_key="k", duration=1.5, result={"r": None}),
        Task(task_type="noop", timeout=7, attempts=1),
        services.new_task(task_type="noop", status=TaskStatus.SCHEDULED, priority="low"),
        services.new_task(task_type="noop", status=TaskStatus.SCHEDULED, priority="low"),
    ]
    fields = _insert_fields(Task._meta)
    copied = [_comparable(row) for row in _copy_rows(tasks, fields, connection)]
    created = [task.created_at for task in tasks]  # auto_now_add: set by the copy's pre_save
    assert all(created)
    for task, row in zip(tasks, copied, strict=True):
        expected = _comparable(_row_values(task, fields, connection))  # sets created_at anew
        at = [field.attname for field in fields].index("created_at")
        row[at] = expected[at] = None
        assert row == expected
        assert [type(value) for value in row] == [type(value) for value in expected]


def test_equal_payloads_are_validated_once_and_each_task_gets_its_own(monkeypatch):
    from queue_app import registry
    from queue_app.tasks import NoopPayload

    calls = []
    original = NoopPayload.run_validation
    monkeypatch.setattr(NoopPayload, "run_validation", lambda self, data: calls.append(data) or original(self, data))
    payloads = [None, {}, {"sleep_ms": 1}, {"sleep_ms": 1}, {"sleep_ms": 1.0}, {}]
    cleaned = registry.get("noop").validate_payloads(payloads)
    assert len(calls) == 3  # {}, sleep_ms 1 and 1.0 (JSON tells them apart; == does not)
    assert cleaned[0] == cleaned[1] == cleaned[5] and cleaned[0] is not cleaned[1]
    assert cleaned[4]["sleep_ms"] == 1.0  # what the caller sent is kept, as before
    assert cleaned[2] == cleaned[3] and cleaned[2]["sleep_ms"] == 1


def test_a_payload_serializer_with_a_callable_default_validates_every_payload(monkeypatch):
    from rest_framework import serializers

    from queue_app import registry

    class Stamped(serializers.Serializer):
        token = serializers.CharField(default=lambda: uuid.uuid4().hex)

    class Nested(serializers.Serializer):
        inner = Stamped(required=False)

    class NestedList(serializers.Serializer):
        inner = Stamped(many=True, required=False)

    assert not registry._repeatable(Stamped)
    assert not registry._repeatable(Nested)
    assert not registry._repeatable(NestedList)
    calls = []
    original = Stamped.run_validation
    monkeypatch.setattr(Stamped, "run_validation", lambda self, data: calls.append(data) or original(self, data))
    stamped = registry.TaskType(name="stamped", handler=lambda payload, ctx: None, payload_serializer=Stamped)
    first, second = stamped.validate_payloads([{}, {}])
    assert len(calls) == 2
    assert first["token"] != second["token"]


def test_a_serializer_with_required_fields_and_plain_defaults_is_repeatable(monkeypatch):
    """DRF's "no default" (rest_framework.fields.empty) is a class, hence callable: it is not a callable default."""
    from rest_framework import serializers

    from queue_app import registry

    class Listed(serializers.Serializer):
        tags = serializers.ListField(child=serializers.CharField(), default=list)

    class Plain(serializers.Serializer):
        size = serializers.IntegerField(default=3)
        label = serializers.CharField(required=False, default="x")

    class Required(serializers.Serializer):
        url = serializers.CharField()  # required: no default at all
        inner = Plain(required=False)

    assert registry._repeatable(Plain)
    assert registry._repeatable(Required)
    assert not registry._repeatable(Listed)  # default=list is a callable default
    assert registry._repeatable(registry.get("noop").payload_serializer)
    calls = []
    original = Required.run_validation
    monkeypatch.setattr(Required, "run_validation", lambda self, data: calls.append(data) or original(self, data))
    required = registry.TaskType(name="required", handler=lambda payload, ctx: None, payload_serializer=Required)
    cleaned = required.validate_payloads([{"url": "https://a", "inner": {}}] * 3)
    assert len(calls) == 1
    assert cleaned[0] == cleaned[2] == {"url": "https://a", "inner": {"size": 3, "label": "x"}}
    assert cleaned[0] is not cleaned[1] and cleaned[0]["inner"] is not cleaned[1]["inner"]
