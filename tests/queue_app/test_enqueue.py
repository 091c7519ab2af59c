"""The enqueue service: validation, rows, RQ jobs, delays, idempotency, bulk."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from core.actor import Actor
from core.errors import ValidationFailed
from queue_app import services, transport
from queue_app.models import Task, TaskStatus

pytestmark = pytest.mark.django_db


def test_enqueue_writes_a_queued_row_and_an_rq_job_with_the_same_id(django_capture_on_commit_callbacks, redis_conn):
    with django_capture_on_commit_callbacks(execute=True):
        task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 5}, actor=Actor(source="api"))
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED
    assert task.priority == "normal"
    assert task.max_retries == 3
    assert task.timeout == 300  # the noop type's own default
    assert task.payload == {"sleep_ms": 5, "fail_times": 0, "allocate_mb": 0, "result_kb": 0}
    assert task.enqueued_at is not None
    job = Job.fetch(str(task.id), connection=redis_conn)
    assert job.origin == "system.normal"  # the noop type's family, the task's priority
    assert job.args == [str(task.id), "noop"]  # JSON: a list
    assert job.timeout == 300
    assert str(task.id) in transport.get_queue("system.normal").job_ids


def test_priority_and_limits_can_be_overridden():
    task = services.task_enqueue(task_type="noop", priority="critical", max_retries=0, timeout=9)
    assert (task.priority, task.max_retries, task.timeout) == ("critical", 0, 9)


def test_unknown_task_type_is_refused_and_writes_no_row():
    with pytest.raises(ValidationFailed) as error:
        services.task_enqueue(task_type="does_not_exist")
    assert "Unknown task type 'does_not_exist'" in error.value.message
    assert "task_type" in error.value.field_errors
    assert Task.objects.count() == 0


def test_invalid_payload_names_the_field_and_writes_no_row():
    with pytest.raises(ValidationFailed) as error:
        services.task_enqueue(task_type="noop", payload={"sleep_ms": "soon"})
    assert "payload.sleep_ms" in error.value.field_errors
    assert Task.objects.count() == 0


def test_payload_validation_reuses_its_serializer_without_carrying_anything_over():
    from rest_framework import serializers

    from queue_app import registry

    class Window(serializers.Serializer):
        start = serializers.IntegerField()
        end = serializers.IntegerField()

        def validate(self, attrs):
            if attrs["end"] < attrs["start"]:
                raise serializers.ValidationError("end before start")
            return attrs

    task_type = registry.TaskType(name="window", handler=lambda payload, context: None, payload_serializer=Window)
    with pytest.raises(ValidationFailed) as error:
        task_type.validate_payloads([{"start": 1, "end": 2}, {"start": 1}])
    assert error.value.index == 1 and "payload.end" in error.value.field_errors
    with pytest.raises(ValidationFailed) as error:
        task_type.validate_payload({"start": 5, "end": 2})
    assert error.value.field_errors == {"payload.non_field_errors": ["end before start"]}
    assert task_type.validate_payload({"start": 1, "end": 3}) == {"start": 1, "end": 3}
    assert registry._validator(Window) is registry._validator(Window)  # built once per thread


def test_rq_resolves_each_serializer_once_and_still_refuses_a_bad_one():
    import rq.job
    import rq.queue
    from rq.serializers import DefaultSerializer, JSONSerializer

    from queue_app.rq_adapter import serializers as rq_compat

    assert rq.job.resolve_serializer is rq_compat.resolve_serializer
    assert rq.queue.resolve_serializer is rq_compat.resolve_serializer
    # RQ's default (pickle) is never used: Redis is not trusted (tests/queue_app/test_job_security.py).
    assert rq_compat.resolve_serializer(None) is rq_compat.JobSerializer
    assert rq_compat.resolve_serializer("rq.serializers.DefaultSerializer") is rq_compat.JobSerializer
    assert rq_compat.resolve_serializer(DefaultSerializer) is rq_compat.JobSerializer
    assert rq_compat.resolve_serializer("json") is JSONSerializer
    before = rq_compat._resolve_hashable.cache_info().hits
    rq_compat.resolve_serializer(DefaultSerializer)
    rq_compat.resolve_serializer(DefaultSerializer)
    assert rq_compat._resolve_hashable.cache_info().hits >= before + 1
    with pytest.raises(NotImplementedError):
        rq_compat.resolve_serializer(object())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"priority": "urgent"}, "priority"),
        ({"delay": -1}, "delay"),
        ({"delay": 5, "run_at": timezone.now()}, "delay"),
        ({"payload": ["not", "an", "object"]}, "payload"),
    ],
)
def test_bad_options_are_refused_with_the_field_named(kwargs, field):
    with pytest.raises(ValidationFailed) as error:
        services.task_enqueue(task_type="noop", **kwargs)
    assert field in error.value.field_errors
    assert Task.objects.count() == 0


def test_delay_schedules_the_task_in_rq_scheduled_registry(django_capture_on_commit_callbacks, redis_conn):
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        task = services.task_enqueue(task_type="noop", delay=60)
    task.refresh_from_db()
    assert task.status == TaskStatus.SCHEDULED
    assert task.enqueued_at is None
    assert before + timedelta(seconds=59) < task.run_at < before + timedelta(seconds=62)
    registry = ScheduledJobRegistry("system.normal", connection=redis_conn)
    assert str(task.id) in registry.get_job_ids()
    assert str(task.id) not in transport.get_queue("system.normal").job_ids


def test_run_at_in_the_past_runs_now():
    task = services.task_enqueue(task_type="noop", run_at=timezone.now() - timedelta(minutes=5))
    assert task.status == TaskStatus.QUEUED


def test_same_idempotency_key_returns_the_existing_task():
    first = services.task_enqueue(task_type="noop", idempotency_key="firing-1")
    second = services.task_enqueue(task_type="noop", payload={"sleep_ms": 1}, idempotency_key="firing-1")
    assert second.id == first.id
    assert Task.objects.filter(idempotency_key="firing-1").count() == 1


def test_bulk_enqueue_writes_all_rows_and_pushes_in_one_pipeline(django_capture_on_commit_callbacks, redis_conn):
    requests = [services.EnqueueRequest(task_type="noop", payload={"sleep_ms": i}) for i in range(50)]
    requests.append(services.EnqueueRequest(task_type="noop", priority="high"))
    with django_capture_on_commit_callbacks(execute=True):
        tasks = services.task_enqueue_many(requests=requests, actor=Actor.system())
    assert len(tasks) == 51
    assert Task.objects.filter(status=TaskStatus.QUEUED).count() == 51
    assert len(transport.get_queue("system.normal").job_ids) == 50
    assert transport.get_queue("system.high").job_ids == [str(tasks[-1].id)]


def test_bulk_enqueue_with_one_invalid_request_writes_nothing():
    requests = [services.EnqueueRequest(task_type="noop"), services.EnqueueRequest(task_type="noop", priority="x")]
    with pytest.raises(ValidationFailed) as error:
        services.task_enqueue_many(requests=requests)
    assert "tasks[1].priority" in error.value.field_errors
    assert Task.objects.count() == 0


def test_bulk_enqueue_reuses_existing_idempotency_keys():
    existing = services.task_enqueue(task_type="noop", idempotency_key="k1")
    tasks = services.task_enqueue_many(
        requests=[
            services.EnqueueRequest(task_type="noop", idempotency_key="k1"),
            services.EnqueueRequest(task_type="noop", idempotency_key="k2"),
            services.EnqueueRequest(task_type="noop", idempotency_key="k2"),
        ]
    )
    assert tasks[0].id == existing.id
    assert tasks[1].id == tasks[2].id
    assert Task.objects.count() == 2


def test_enqueue_while_redis_is_unreachable_keeps_the_task_as_pending(django_capture_on_commit_callbacks, settings):
    # Nothing listens on port 1: every push fails with a connection error.
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0"} for name in settings.RQ_QUEUES}
    with django_capture_on_commit_callbacks(execute=True):
        task = services.task_enqueue(task_type="noop")
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_single_enqueue_writes_the_row_and_its_audit_row_in_one_statement(redis_conn):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.models import AuditEntry

    with CaptureQueriesContext(connection) as queries:
        task = services.task_enqueue(task_type="noop", actor=Actor(source="api"))
    assert len(queries.captured_queries) == 1  # no BEGIN/COMMIT pair: one round trip, atomic by itself
    stored = Task.objects.get(id=task.id)
    assert stored.created_at == task.created_at and stored.status == TaskStatus.QUEUED
    entry = AuditEntry.objects.get(object_id=str(task.id))
    assert (entry.action, entry.source, entry.after["task_type"]) == ("task.enqueue", "api", "noop")
    assert Job.fetch(str(task.id), connection=redis_conn).args == [str(task.id), "noop"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [True, False])
def test_the_enqueue_insert_is_prepared_once_per_connection_unless_turned_off(redis_conn, settings, prepared):
    from django.db import connection

    settings.DB_PREPARED_STATEMENTS = prepared
    connection.close()  # a fresh session: no statement prepared yet
    for _ in range(3):
        services.task_enqueue(task_type="noop")
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%%INSERT INTO%%'")
        statements = [row[0] for row in cursor.fetchall()]
    assert len(statements) == (1 if prepared else 0)
    assert Task.objects.filter(task_type="noop").count() == 3


@pytest.mark.django_db
def test_insert_values_skip_only_preparation_that_would_change_nothing():
    from django.db import connection
    from django.utils import timezone

    from core.audit import audit_entry
    from queue_app import db

    task = services._build_task(
        services.EnqueueRequest(task_type="noop", payload={"sleep_ms": 3}, idempotency_key="k\t\u00e9"),
        actor=Actor(source="api"),
        now=timezone.now(),
    )
    entry = audit_entry(
        action="task.enqueue", object_type="task", object_id=task.id, actor=Actor(remote_addr="10.0.0.1")
    )
    for obj in (task, entry):
        fields = db._insert_fields(obj._meta)
        fast = db._row_values(obj, fields, connection)
        django_prepared = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
        for field, mine, theirs in zip(fields, fast, django_prepared, strict=True):
            if getattr(field, "auto_now_add", False):
                continue  # pre_save took the time again
            assert type(mine) is type(theirs), field.name
            assert getattr(mine, "obj", mine) == getattr(theirs, "obj", theirs), field.name


@pytest.mark.django_db(transaction=True)
def test_an_enqueue_in_a_callers_transaction_lands_or_vanishes_with_it(redis_conn):
    from django.db import IntegrityError, transaction

    from core.audit import audit_entry
    from core.models import AuditEntry
    from queue_app.db import insert_together

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        rolled_back = services.task_enqueue(task_type="noop")
        raise Abort
    assert not Task.objects.filter(id=rolled_back.id).exists()
    assert not AuditEntry.objects.filter(object_id=str(rolled_back.id)).exists()
    assert redis_conn.exists(f"rq:job:{rolled_back.id}") == 0  # pushed only on commit

    services.task_enqueue(task_type="noop", idempotency_key="once")
    with transaction.atomic():
        duplicate = Task(task_type="noop", payload={}, idempotency_key="once")  # a racing enqueue's row
        with pytest.raises(IntegrityError):
            insert_together(duplicate, audit_entry(action="task.enqueue", object_type="task", object_id="x"))
        kept = services.task_enqueue(task_type="noop")  # the caller's transaction is still usable
    assert Task.objects.filter(id=kept.id).exists()
    assert not AuditEntry.objects.filter(object_id="x").exists()


def test_bulk_rows_are_stored_field_for_field_as_a_single_enqueue_stores_them(django_capture_on_commit_callbacks, user):
    run_at = timezone.now() + timedelta(hours=1)
    requests = [
        services.EnqueueRequest(task_type="noop", payload={"sleep_ms": 7}, priority="high", idempotency_key="b-1"),
        services.EnqueueRequest(task_type="noop", run_at=run_at, max_retries=0, timeout=9),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        first, second = services.task_enqueue_many(requests=requests, actor=Actor(user=user, source="api"))
    stored = Task.objects.get(id=first.id)
    assert (stored.payload["sleep_ms"], stored.priority, stored.idempotency_key) == (7, "high", "b-1")
    assert (stored.source, stored.requested_by_id, stored.status) == ("api", user.id, TaskStatus.QUEUED)
    assert stored.created_at == first.created_at and stored.result is None and stored.error_message == ""
    later = Task.objects.get(id=second.id)
    assert (later.status, later.run_at, later.max_retries, later.timeout) == (TaskStatus.SCHEDULED, run_at, 0, 9)
    assert not first._state.adding  # saved model instances, as bulk_create leaves them


def test_copy_insert_refuses_a_model_whose_primary_key_it_cannot_read_back():
    from core.models import AuditEntry
    from queue_app.db import copy_insert

    with pytest.raises(TypeError, match="bulk_create"):
        copy_insert([AuditEntry(action="x", object_type="task", object_id="1")])


@pytest.mark.django_db(transaction=True)
def test_bulk_enqueue_that_loses_an_idempotency_key_race_returns_the_winners_task(monkeypatch, redis_conn):
    import psycopg
    from django.db import connection

    from queue_app import db

    winner = Task(task_type="noop", payload={}, status=TaskStatus.QUEUED, idempotency_key="race-1")
    real_copy_insert = db.copy_insert
    calls = []

    def copy_after_a_racing_commit(objs, **kwargs):
        calls.append(len(objs))
        if len(calls) == 1:  # between our key lookup and our write, another process commits the key
            params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
            with psycopg.connect(**params, autocommit=True) as other:
                other.execute(
                    "INSERT INTO queue_app_task (id, task_type, payload, priority, status, attempts, max_retries,"
                    " timeout, created_at, worker_name, error_type, error_message, error_traceback, wait_reason,"
                    " idempotency_key, source) VALUES (%s, 'noop', '{}', 'normal', 'queued', 0, 3, 300, now(),"
                    " '', '', '', '', '', %s, 'system')",
                    [winner.id, winner.idempotency_key],
                )
        return real_copy_insert(objs, **kwargs)

    monkeypatch.setattr(services, "copy_insert", copy_after_a_racing_commit)
    tasks = services.task_enqueue_many(
        requests=[
            services.EnqueueRequest(task_type="noop", idempotency_key="race-1"),
            services.EnqueueRequest(task_type="noop"),
        ]
    )
    assert calls == [2, 1]  # the first write failed on the key, the second wrote only the other task
    assert tasks[0].id == winner.id
    assert Task.objects.filter(idempotency_key="race-1").count() == 1
    assert Task.objects.count() == 2


def test_bulk_rows_keep_tabs_newlines_backslashes_and_unicode_exactly():
    # COPY's text format has its own escaping; what goes in must come back unchanged.
    awkward = 'tab\there, line\nbreak, back\\slash, "quotes", \\N, émoji 🚀'
    (task,) = services.task_enqueue_many(
        requests=[
            services.EnqueueRequest(
                task_type="job_discovery", payload={"keywords": [awkward]}, idempotency_key=f"key\t{awkward}"
            )
        ]
    )
    stored = Task.objects.get(id=task.id)
    assert stored.payload["keywords"] == [awkward]
    assert stored.idempotency_key == f"key\t{awkward}"
