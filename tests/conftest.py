"""Shared fixtures: real PostgreSQL, real Redis, real worker processes — every one of them this run's own.

The session owns its services (tests/services.py): a test database named after the run (settings/test.py), a
private redis-server on a free port unless TEST_REDIS_URL names one, and it fails, naming them, if any process
it started is still alive at its end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from tests.services import PrivateRedis, leftover_processes, redis_server_binary

# Switches for the Chromium the browser tests start themselves (the app adds its own: jobs.sources.browser).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PRIVATE_REDIS = pytest.StashKey[PrivateRedis]()
LEFTOVERS = pytest.StashKey[str]()
POSTGRES_STARTED = pytest.StashKey[object]()
RESTARTED = pytest.StashKey[str]()

ROOT = Path(__file__).resolve().parent.parent


def _postgres_started_at():
    """When the PostgreSQL server the tests use started (None if it does not answer)."""
    import psycopg

    db = settings.DATABASES["default"]
    try:
        with psycopg.connect(
            host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
            password=db["PASSWORD"] or None, dbname="postgres", connect_timeout=5,
        ) as conn:  # fmt: skip
            return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    except psycopg.Error:
        return None


def pytest_configure(config):
    """Note when the shared PostgreSQL started; start the session's private Redis (unless TEST_REDIS_URL names one)."""
    config.stash[POSTGRES_STARTED] = _postgres_started_at()
    if os.environ.get("TEST_REDIS_URL") or _xdist_controller(config):
        return  # a given Redis; or parallel workers (pytest-xdist), each of which starts its own
    binary = redis_server_binary()
    if binary is None:
        raise pytest.UsageError(
            "The tests need redis-server: install it (Debian: apt-get install redis-server; macOS: brew install "
            "redis) or set TEST_REDIS_URL to a Redis database the tests may flush."
        )
    server = PrivateRedis(binary, Path(tempfile.mkdtemp(prefix="test-redis-"))).start()
    config.stash[PRIVATE_REDIS] = server
    os.environ["TEST_REDIS_URL"] = server.url  # for every process the tests start
    settings.REDIS_URL = server.url
    settings.RQ_QUEUES = {name: {**queue, "URL": server.url} for name, queue in settings.RQ_QUEUES.items()}


def pytest_report_header(config):
    database = settings.DATABASES["default"]["TEST"]["NAME"]
    return f"test run {settings.TEST_RUN_ID}: database {database}, Redis {settings.REDIS_URL}"


def _xdist_controller(config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_sessionfinish(session, exitstatus):
    """Fail the run, naming them, if processes it started outlive it (they are killed too).

    With parallel workers the controller checks, once they have all finished, for theirs too.
    """
    if hasattr(session.config, "workerinput"):
        return
    left = leftover_processes(settings.TEST_RUN_ID)
    if left:
        lines = "\n".join(f"  pid {pid}: {command}" for pid, command in left)
        session.config.stash[LEFTOVERS] = lines
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    before, after = session.config.stash.get(POSTGRES_STARTED, None), _postgres_started_at()
    if before is not None and after != before:
        session.config.stash[RESTARTED] = f"the PostgreSQL server the tests use started at {before}, now {after}"
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    restarted = config.stash.get(RESTARTED, None)
    if restarted:
        terminalreporter.section("shared PostgreSQL restarted", sep="=", red=True)
        terminalreporter.write_line(f"FAILED: a test restarted a server it does not own: {restarted}")
    lines = config.stash.get(LEFTOVERS, None)
    if lines:
        terminalreporter.section("processes left running", sep="=", red=True)
        terminalreporter.write_line(f"FAILED: {lines.count(chr(10)) + 1} process(es) started by this run outlived it:")
        terminalreporter.write_line(lines)


def pytest_unconfigure(config):
    server = config.stash.get(PRIVATE_REDIS, None)
    if server is not None:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


def wait_for(predicate: Callable[[], object], *, timeout: float = 20.0, interval: float = 0.05, message: str = ""):
    """Poll until predicate() is truthy; return its value or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for: {message or predicate}")
        time.sleep(interval)


@pytest.fixture(scope="session", autouse=True)
def _test_database_dropped_at_the_end(django_db_setup, django_db_blocker):
    """Before pytest-django drops the run's test database: end the sessions a killed process's backend may still
    hold on it (PostgreSQL refuses to drop a database in use, and the run would leave it behind)."""
    yield
    if not connection.settings_dict["NAME"].startswith("test_"):
        return  # the test database is already gone (nothing of this run used it)
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def redis_conn():
    """The test Redis database, empty at the start of every test."""
    from queue_app.transport import get_connection

    conn = get_connection()
    conn.flushdb()
    yield conn
    conn.flushdb()


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that must see this test's database and Redis."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="upwork_automation.settings.test",
        DATABASE_URL=(
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        TEST_REDIS_URL=settings.REDIS_URL,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def descendants(pid: int) -> list[int]:
    """Every process below pid, read from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def still_running(pids: list[int]) -> list[int]:
    """The pids of `pids` that are alive (zombies waiting for a parent's wait() count as gone)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


class ProcessGroup:
    """Starts manage.py commands as real processes and stops them all at teardown."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str, env: dict | None = None, name: str = "proc") -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=env or subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.log_path = log.name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def worker(
        self, *queues: str, burst: bool = False, worker_class: str | None = None, name: str | None = None, **env: str
    ):
        args = ["rqworker", *(queues or settings.TASK_PRIORITIES), "--with-scheduler"]
        if burst:
            args.append("--burst")
        if worker_class:
            args += ["--worker-class", worker_class]
        if name:
            args += ["--name", name]
        return self.start(*args, env=subprocess_env(**env), name="worker")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                # RQ puts each work horse in a process group of its own: kill the whole tree.
                for pid in [*descendants(proc.pid), proc.pid]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait(timeout=10)

    @staticmethod
    def output(proc) -> str:
        return Path(proc.log_path).read_text(errors="replace")


@pytest.fixture
def processes(tmp_path, transactional_db):
    group = ProcessGroup(tmp_path)
    yield group
    group.stop_all()


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The Chromium the browser tests drive (upwork_automation.chromium decides, as for the app)."""
    from upwork_automation import chromium

    try:
        return chromium.executable(settings.JOBS_BROWSER_EXECUTABLE)
    except chromium.ChromiumNotFound as error:
        pytest.fail(str(error))


@pytest.fixture
def user(django_user_model):
    """A user with the operator role (API reads and writes; core/permissions.py)."""
    from core.permissions import OPERATOR, role_grant

    user = django_user_model.objects.create_user(username="operator", password="pw-operator")
    role_grant(user=user, role=OPERATOR)
    return user


@pytest.fixture
def api_client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client
