"""The RQ adapter (queue_app/rq_adapter): the only code that imports RQ, and a table whose every row is tested."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

import queue_app.rq_adapter as rq_adapter
from queue_app import services, transport
from queue_app.models import Task, TaskStatus

ROOT = Path(__file__).resolve().parents[2]
RQ_PACKAGES = ("rq", "django_rq", "rq_scheduler")
# May import RQ: the adapter, and the worker subclasses (each override a row of the adapter's table).
ALLOWED = ("queue_app/rq_adapter/", "queue_app/worker.py", "queue_app/batch_worker.py", "queue_app/thread_worker.py")
# Outside the application code: tests poke RQ to prove what it does; bench/throughput.py measures raw RQ
# against ours; scripts/healthcheck.py is a container check that runs without Django.
NOT_APPLICATION_CODE = ("tests/", "bench/", "scripts/", ".venv/", "node_modules/")
ROW = re.compile(r"^\| (?P<where>[^|]+?) \| (?P<what>[^|]+?) \| (?P<why>[^|]+?) \| (?P<test>\S+::\w+) \|$", re.M)


def _application_modules() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if not name.startswith(NOT_APPLICATION_CODE) and (ROOT / name).exists()]


def _rq_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [f"line {node.lineno}: {name}" for name in names if name.split(".")[0] in RQ_PACKAGES]
    return found


def test_only_the_adapter_and_the_worker_subclasses_import_rq():
    modules = _application_modules()
    assert any(path.name == "transport.py" for path in modules)  # the walk finds the application code
    offenders = {
        str(path.relative_to(ROOT)): imports
        for path in modules
        if not str(path.relative_to(ROOT)).startswith(ALLOWED) and (imports := _rq_imports(path))
    }
    assert offenders == {}, f"import RQ through queue_app.rq_adapter instead: {offenders}"


def _rows(text: str) -> list[re.Match]:
    return list(ROW.finditer(text))


def test_every_row_of_the_adapters_table_names_a_test_that_exists():
    rows = _rows(rq_adapter.__doc__)
    assert len(rows) >= 20
    missing = []
    for row in rows:
        file, name = row["test"].split("::")
        path = ROOT / file
        if not path.exists() or not re.search(rf"^def {re.escape(name)}\(", path.read_text(), re.M):
            missing.append(row["test"])
    assert missing == []


def test_the_docs_carry_the_same_table():
    docs = (ROOT / "docs" / "queue.md").read_text()
    in_code = {(row["where"], row["test"]) for row in _rows(rq_adapter.__doc__)}
    in_docs = {(row["where"], row["test"]) for row in _rows(docs)}
    assert in_code == in_docs


def _overrides(module, bases: tuple[type, ...], only: type = object) -> set[str]:
    """Names of RQ methods and attributes the classes of `module` (subclasses of `only`) define again."""
    found = set()
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__ and issubclass(value, only):
            found |= {name for name in vars(value) if any(hasattr(base, name) for base in bases)}
    return found - {"__module__", "__doc__", "__dict__", "__weakref__", "__annotations__"}


def _listed(prefix: str) -> set[str]:
    listed = set()
    for row in _rows(rq_adapter.__doc__):
        if row["where"].startswith(prefix):
            listed |= {part.strip().split(".")[-1].split(" ")[0] for part in row["where"].split(",")}
    return listed


def test_every_rq_method_the_worker_classes_override_is_a_row_of_the_table():
    from rq import SimpleWorker, Worker
    from rq.scheduler import RQScheduler

    from queue_app import worker

    assert _overrides(worker, (Worker, SimpleWorker, RQScheduler)) - _listed("worker.") == set()


def test_every_rq_method_the_batch_and_thread_worker_classes_override_is_a_row_of_the_table():
    from rq import SimpleWorker, Worker

    from queue_app import batch_worker, thread_worker

    for module, prefix in ((batch_worker, "batch_worker."), (thread_worker, "thread_worker.")):
        # only the worker classes: their helpers (a dataclass's __init__, __eq__...) override nothing of RQ's
        overridden = _overrides(module, (Worker, SimpleWorker), only=SimpleWorker)
        assert overridden, f"no worker class found in {module.__name__}"
        assert overridden - _listed(prefix) == set(), prefix


def test_every_rq_scheduler_method_the_scheduler_overrides_is_a_row_of_the_table():
    from queue_app import scheduler

    assert _overrides(scheduler, (rq_adapter.SchedulerBase,)) - _listed("scheduler.") == set()


@pytest.mark.django_db(transaction=True)
def test_an_idle_worker_wakes_often_enough_for_its_heartbeat(redis_conn):
    from queue_app.worker import TaskSimpleWorker

    worker = TaskSimpleWorker(["normal"], connection=transport.get_connection())
    assert 1 <= worker.dequeue_timeout <= 2 * settings.WORKER_HEARTBEAT_SECONDS
    assert worker.dequeue_timeout < worker.worker_ttl


@pytest.mark.django_db(transaction=True, databases="__all__")  # the worker writes on its task_state connection
def test_a_suspended_worker_still_runs_nothing(redis_conn, django_capture_on_commit_callbacks):
    from rq.suspension import resume, suspend

    from queue_app.worker import TaskSimpleWorker

    with django_capture_on_commit_callbacks(execute=True):
        task = services.task_enqueue(task_type="noop")
    connection = transport.get_connection()
    queues = [transport.queue_for(task)]
    suspend(connection)
    try:
        worker = TaskSimpleWorker(queues, connection=connection)
        worker.work(burst=True)
        assert Task.objects.get(pk=task.pk).status == TaskStatus.QUEUED
    finally:
        resume(connection)
    TaskSimpleWorker(queues, connection=connection).work(burst=True)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.COMPLETED
