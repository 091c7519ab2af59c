"""Queue throughput and latency: persisted tasks beside raw RQ, measured in one run.

Usage: python bench/throughput.py [--tasks N] [--rounds N] [--latency-samples N] [--bulk N]
       python bench/throughput.py --only-peers [--json] [--private-redis]
       python bench/throughput.py --only-bulk [--bulk N] [--rounds N] [--latency-samples N] [--json]

Uses its own database (upwork_bench_throughput, created if missing) and Redis database 14,
both flushed, and real `manage.py rqworker` processes. Prints a table.

The peers comparison (after the tables, or alone with --only-peers) runs, interleaved in each
round: raw RQ SimpleWorker, persisted tasks on TaskSimpleWorker and on TaskBatchWorker, a Celery 5
solo worker with django-celery-results (bench/celery_app.py) and a plain Celery app's solo worker
ignoring results (bench/celery_plain.py, no Django; both with the same Redis as broker), and the
I/O-bound pair (raw RQ SimpleWorker and the threaded worker, if this checkout has one). Each
figure is shown as a ratio to raw RQ of the same round; --json prints the medians as one JSON
object. --private-redis starts a redis-server of its own for the whole run.

The throughput runs are interleaved: each round runs raw RQ, then persisted, then the two-worker
pair, and the table shows each column's median over the rounds, so a slow spell of a shared
machine weighs on both sides of a ratio instead of on one of them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/upwork_bench_throughput")
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.update(
    DATABASE_URL=BENCH_DB,
    REDIS_URL=BENCH_REDIS,
    DJANGO_SETTINGS_MODULE="upwork_automation.settings.base",
    LOG_LEVEL="WARNING",
    SCHEDULER_ENABLED="false",
    # Our worker classes refuse every job but the task runner; the raw-RQ runs on them need this one.
    WORKER_EXTRA_JOB_FUNCTIONS="bench.raw_jobs.noop,bench.raw_jobs.sleep",
)
QUEUES = ["critical", "high", "normal", "low"]
# Bare jobs go where noop tasks go, so both kinds of worker (ours expands 'normal' to every
# family's normal queue) listen to the same queue list.
RAW_QUEUE = "system.normal"
WORKER_CLASSES = {
    "simple": ("rq.SimpleWorker", "queue_app.worker.TaskSimpleWorker"),
    "fork": ("rq.Worker", "queue_app.worker.TaskWorker"),
    "batch": ("rq.SimpleWorker", "queue_app.batch_worker.TaskBatchWorker"),
}
BATCH_CLASS = "queue_app.batch_worker.TaskBatchWorker"
# The threaded worker of issue 20 part 2, if this checkout has one (the first that imports).
THREAD_CLASSES = (
    "queue_app.thread_worker.TaskThreadWorker",
    "queue_app.threaded_worker.TaskThreadWorker",
    "queue_app.worker_threads.TaskThreadWorker",
    "queue_app.workers.threads.TaskThreadWorker",
    "queue_app.worker.TaskThreadWorker",
)


def ensure_database() -> None:
    import psycopg

    name = BENCH_DB.rsplit("/", 1)[1]
    admin_url = BENCH_DB.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    if celery_available():
        celery_env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.celery_settings")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "django_celery_results", "-v", "0"],
            cwd=ROOT,
            check=True,
            env=celery_env,
        )


def celery_available() -> bool:
    try:
        import celery  # noqa: F401
        import django_celery_results  # noqa: F401
    except ImportError:
        return False
    return True


def start_workers(count: int, worker_class: str, env: dict | None = None) -> list[subprocess.Popen]:
    from queue_app.worker import expand_queue_names

    queues = expand_queue_names(QUEUES)  # the same list for RQ's classes and ours
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", *queues, "--worker-class", worker_class, "-v", "0"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, **(env or {})),
        )
        for _ in range(count)
    ]
    from rq import Worker

    from queue_app.transport import get_connection

    deadline = time.monotonic() + 30
    while len(Worker.all(connection=get_connection())) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not register within 30 s")
        time.sleep(0.05)
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()


def reset() -> None:
    """Empty the bench's Redis db and task tables. TRUNCATE, not DELETE: a DELETE per run leaves
    the dead rows of every earlier run in the table and its indexes, and later runs slow down.
    A CHECKPOINT then flushes the previous run's dirty pages, so no run pays for another's."""
    from django.db import DatabaseError, connection, transaction

    from core.models import AuditEntry
    from queue_app.models import Task, WorkerProcess
    from queue_app.transport import get_connection

    if not connection.settings_dict["NAME"].startswith("upwork_bench"):
        raise RuntimeError(f"refusing to empty {connection.settings_dict['NAME']}: not a bench database")
    get_connection().flushdb()
    tables = ", ".join(model._meta.db_table for model in (Task, AuditEntry, WorkerProcess))
    if "django_celery_results_taskresult" in connection.introspection.table_names():
        tables += ", django_celery_results_taskresult"
    with transaction.atomic(), connection.cursor() as cursor:
        # The audit log refuses TRUNCATE unless this is set (queue_app migration 0010); the bench database only.
        cursor.execute("SET LOCAL upwork.allow_audit_truncate = 'on'")
        cursor.execute(f"TRUNCATE {tables} CASCADE")
    # Write out what the previous run left dirty now, not during the next measurement.
    # CHECKPOINT needs a superuser or pg_checkpoint.
    with connection.cursor() as cursor, contextlib.suppress(DatabaseError):
        cursor.execute("CHECKPOINT")


def wait_until(predicate, timeout: float = 600, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("benchmark did not finish in time")
        time.sleep(interval)


# The throughput runs poll for the end every 50 ms (cheap, so the poll does not compete with the
# workers) and take the end time from the records themselves: RQ's ended_at, the rows' finished_at.


def run_raw(n: int, worker_class: str, workers: int = 1, sleep_ms: int = 0) -> float:
    """Raw RQ: N bare jobs, pipelined enqueue; enqueue start -> last job's ended_at."""
    from rq import Queue
    from rq.registry import FinishedJobRegistry

    from queue_app.transport import get_connection

    reset()
    procs = start_workers(workers, worker_class)
    try:
        connection = get_connection()
        queue = Queue(RAW_QUEUE, connection=connection)
        registry = FinishedJobRegistry(RAW_QUEUE, connection=connection)
        started = time.time()
        ids = []
        for offset in range(0, n, 1000):
            count = min(1000, n - offset)
            if sleep_ms:
                data = [Queue.prepare_data("bench.raw_jobs.sleep", args=(sleep_ms,)) for _ in range(count)]
            else:
                data = [Queue.prepare_data("bench.raw_jobs.noop") for _ in range(count)]
            jobs = queue.enqueue_many(data)
            ids.extend(job.id for job in jobs)
        wait_until(lambda: registry.count >= n, interval=0.05)
        with connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(f"rq:job:{job_id}", "ended_at")
            ended = max(datetime.fromisoformat(value.decode().replace("Z", "+00:00")) for value in pipe.execute())
        return n / (ended.timestamp() - started)
    finally:
        stop_workers(procs)


def run_persisted(
    n: int,
    worker_class: str,
    workers: int = 1,
    payload: dict | None = None,
    cpu: dict | None = None,
    env: dict | None = None,
) -> float:
    """Persisted tasks: N noop rows via bulk enqueue; enqueue start -> last row's finished_at.

    cpu: filled with the CPU seconds per task of the worker, its PostgreSQL backends and the
    private Redis server, and Redis commands and PostgreSQL transactions per task.
    """
    from django.db.models import Max, Min

    from queue_app import services
    from queue_app.models import Task, TaskStatus

    reset()
    procs = start_workers(workers, worker_class, env=env)
    meter = CpuMeter([proc.pid for proc in procs]) if cpu is not None else None
    try:
        started = time.time()
        for offset in range(0, n, 1000):
            services.task_enqueue_many(
                requests=[
                    services.EnqueueRequest(task_type="noop", payload=payload) for _ in range(min(1000, n - offset))
                ]
            )
        wait_until(lambda: Task.objects.filter(status=TaskStatus.COMPLETED).count() >= n, interval=0.05)
        if meter is not None:
            cpu.update(meter.per_task(n))
        assert not Task.objects.exclude(status=TaskStatus.COMPLETED).exists()
        ended = Task.objects.aggregate(last=Max("finished_at"))["last"]
        if cpu is not None:  # the worker alone: first start -> last finish (the enqueue feeds it meanwhile)
            first = Task.objects.aggregate(first=Min("started_at"))["first"]
            cpu["worker_only_per_s"] = n / (ended - first).total_seconds()
        return n / (ended.timestamp() - started)
    finally:
        stop_workers(procs)


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 if it is gone or unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Where a run's CPU goes: the worker processes, their PostgreSQL backends, the Redis server.

    PostgreSQL backends are those connected to the bench database other than this process's own
    (the workers are fresh each run, so their backends' whole CPU is this run's). Redis is only
    meaningful with --private-redis: a shared server also serves everyone else.
    """

    def __init__(self, worker_pids: list[int]) -> None:
        from queue_app.transport import get_connection

        self.worker_pids = worker_pids
        self.redis = get_connection()
        self.redis_pid = int(self.redis.info("server")["process_id"])
        self.start = {pid: _process_cpu(pid) for pid in [*worker_pids, self.redis_pid]}
        self.commands = self.redis.info("stats")["total_commands_processed"]
        self.xacts = self._xacts()

    @staticmethod
    def _xacts() -> int:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            )
            return int(cursor.fetchone()[0])

    @staticmethod
    def _backend_cpu() -> float:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return sum(_process_cpu(pid) for (pid,) in cursor.fetchall())

    def per_task(self, n: int) -> dict:
        worker = sum(_process_cpu(pid) - self.start[pid] for pid in self.worker_pids)
        redis_cpu = _process_cpu(self.redis_pid) - self.start[self.redis_pid]
        commands = self.redis.info("stats")["total_commands_processed"] - self.commands
        return {
            "worker_ms": 1000 * worker / n,
            "postgres_ms": 1000 * self._backend_cpu() / n,
            "redis_ms": 1000 * redis_cpu / n,
            "redis_commands": commands / n,
            "pg_transactions": (self._xacts() - self.xacts) / n,
        }


def _cpu_ticks() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return sum(values), values[3] + values[4]  # all, idle + iowait


def busy(run, *args, **kwargs) -> tuple[float, float]:
    """Run a throughput run; return its rate and how busy the machine's CPUs were meanwhile (0-1)."""
    total, idle = _cpu_ticks()
    rate = run(*args, **kwargs)
    total_after, idle_after = _cpu_ticks()
    return rate, 1 - (idle_after - idle) / max(1, total_after - total)


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def enqueue_latency(samples: int) -> tuple[float, float]:
    from queue_app import services

    reset()
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        services.task_enqueue(task_type="noop")
        timings.append((time.perf_counter() - started) * 1000)
    return percentile(timings, 50), percentile(timings, 99)


def bulk_rate(n: int, cpu: list[float] | None = None) -> float:
    """Tasks/s of one task_enqueue_many call of n noop tasks; appends its CPU µs per task to `cpu`."""
    from queue_app import services

    reset()
    requests = [services.EnqueueRequest(task_type="noop") for _ in range(n)]
    cpu_before = time.process_time()
    started = time.perf_counter()
    services.task_enqueue_many(requests=requests)
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append((time.process_time() - cpu_before) / n * 1e6)
    return n / elapsed


def only_bulk(args) -> None:
    """--only-bulk: per round a bulk call, then the single enqueue latencies; medians and each round."""
    rates: list[float] = []
    cpu: list[float] = []
    latencies = []
    for _ in range(args.rounds):
        rates.append(bulk_rate(args.bulk, cpu))
        latencies.append(enqueue_latency(args.latency_samples))
    figures = {
        "bulk_enqueue_per_s": statistics.median(rates),
        "bulk_cpu_us_per_task": statistics.median(cpu),
        "enqueue_p50_ms": statistics.median(p50 for p50, _ in latencies),
        "enqueue_p99_ms": statistics.median(p99 for _, p99 in latencies),
        "rounds": {"bulk_per_s": rates, "bulk_cpu_us_per_task": cpu, "enqueue_p50_p99_ms": latencies},
        "load_average": os.getloadavg()[0],
    }
    if args.json:
        import json

        print(json.dumps(figures))
        return
    print(
        f"| bulk enqueue ({args.bulk} tasks, one call; median of {args.rounds}) | "
        f"{figures['bulk_enqueue_per_s']:.0f} tasks/s |"
    )
    print(f"| bulk enqueue CPU of the calling process | {figures['bulk_cpu_us_per_task']:.1f} µs per task |")
    print(
        f"| enqueue latency p50 / p99 ({args.latency_samples} samples, median of {args.rounds}) | "
        f"{figures['enqueue_p50_ms']:.2f} / {figures['enqueue_p99_ms']:.2f} ms |"
    )
    print(
        f"| rounds | {', '.join(f'{rate:.0f}' for rate in rates)} tasks/s; load average {figures['load_average']:.2f} |"
    )


def pickup_latency(samples: int, worker_class: str) -> tuple[float, float]:
    """Enqueue one task at a time into an idle worker; enqueue -> started_at."""
    from queue_app import services
    from queue_app.models import Task, TaskStatus

    reset()
    procs = start_workers(1, worker_class)
    try:
        timings = []
        for _ in range(samples):
            task = services.task_enqueue(task_type="noop")
            wait_until(lambda t=task: Task.objects.filter(id=t.id, status=TaskStatus.COMPLETED).exists(), timeout=30)
            task.refresh_from_db()
            timings.append((task.started_at - task.created_at).total_seconds() * 1000)
        return percentile(timings, 50), percentile(timings, 99)
    finally:
        stop_workers(procs)


CELERY_QUEUE = "bench_celery"


def _celery_producer():
    from celery import Celery

    return Celery("bench", broker=BENCH_REDIS, set_as_current=False)


def start_celery_worker(*, results: bool) -> subprocess.Popen:
    """One Celery solo worker: bench/celery_app.py (Django, django-celery-results) for the run
    storing results, bench/celery_plain.py (a plain Celery app: no Django, so no Django fixup around
    each task, and no result backend) for the run ignoring them. Both: prefetch multiplier 128, acks
    on receipt, rate limits and events off, log level WARNING, no heartbeat, gossip or mingle."""
    env = dict(os.environ)
    if results:
        env["DJANGO_SETTINGS_MODULE"] = "bench.celery_settings"
    else:
        env.pop("DJANGO_SETTINGS_MODULE", None)  # Celery installs its Django fixup when this is set
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.celery_app" if results else "bench.celery_plain",
            "worker",
            "--pool",
            "solo",
            "-Q",
            CELERY_QUEUE,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
            "-n",
            f"bench-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_celery(n: int, *, results: bool) -> float:
    """Celery solo: a start marker, N no-op tasks and an end marker are queued first (Celery has
    no pipelined bulk send, and a producer sending one by one would starve the worker), then the
    worker starts; start marker's run -> end marker's run (the solo worker runs them in order)."""
    from queue_app.transport import get_connection

    reset()
    connection = get_connection()
    app = _celery_producer()
    name = "bench.noop_results" if results else "bench.noop_ignored"
    with app.producer_or_acquire() as producer:
        app.send_task("bench.marker", args=("bench:celery:start",), queue=CELERY_QUEUE, producer=producer)
        for _ in range(n):
            app.send_task(name, queue=CELERY_QUEUE, producer=producer)
        app.send_task("bench.marker", args=("bench:celery:done",), queue=CELERY_QUEUE, producer=producer)
    proc = start_celery_worker(results=results)
    try:
        wait_until(lambda: connection.exists("bench:celery:done"), interval=0.05)
        started = float(connection.get("bench:celery:start"))
        ended = float(connection.get("bench:celery:done"))
        if results:
            from django.db import connection as db

            with db.cursor() as cursor:  # the bench process does not load django_celery_results
                cursor.execute("SELECT count(*) FROM django_celery_results_taskresult WHERE status = 'SUCCESS'")
                stored = cursor.fetchone()[0]
            assert stored >= n, f"only {stored} of {n} results stored"
        return n / (ended - started)
    finally:
        stop_workers([proc])


def celery_enqueue_latency(samples: int) -> tuple[float, float]:
    """Celery `.delay()` of the plain app's no-op task (no worker running; the queue is emptied after)."""
    from bench import celery_plain

    reset()
    for _ in range(20):  # the producer pool's connection and the first publish are not timed
        celery_plain.noop_ignored.delay()
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        celery_plain.noop_ignored.delay()
        timings.append((time.perf_counter() - started) * 1000)
    reset()
    return percentile(timings, 50), percentile(timings, 99)


def rq_enqueue_latency(samples: int) -> tuple[float, float]:
    """Raw RQ `Queue.enqueue` of a bare no-op job (no worker running)."""
    from rq import Queue

    from queue_app.transport import get_connection

    reset()
    queue = Queue(RAW_QUEUE, connection=get_connection())
    for _ in range(20):
        queue.enqueue("bench.raw_jobs.noop")
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        queue.enqueue("bench.raw_jobs.noop")
        timings.append((time.perf_counter() - started) * 1000)
    reset()
    return percentile(timings, 50), percentile(timings, 99)


def thread_worker_class() -> str | None:
    import importlib

    for path in THREAD_CLASSES:
        module, _, name = path.rpartition(".")
        try:
            if hasattr(importlib.import_module(module), name):
                return path
        except ImportError:
            continue
    return None


PEER_KEYS = (
    "raw_rq_simple",
    "persisted_simple",
    "persisted_batch",
    "persisted_threads_io",
    "raw_rq_simple_io",
    "celery_results",
    "celery_no_results",
)


def run_peers(args) -> dict:
    """The interleaved peers comparison; returns medians, per-round ratios and the batch run's CPU."""
    threads = thread_worker_class()
    celery = celery_available()
    rounds: dict[str, list[float]] = {key: [] for key in PEER_KEYS}
    cpu_rounds: list[dict] = []
    io_payload = {"sleep_ms": args.io_ms}
    for _ in range(args.rounds):
        rounds["raw_rq_simple"].append(run_raw(args.tasks, "rq.SimpleWorker"))
        rounds["persisted_simple"].append(run_persisted(args.tasks, "queue_app.worker.TaskSimpleWorker"))
        cpu: dict = {}
        rounds["persisted_batch"].append(run_persisted(args.tasks, BATCH_CLASS, cpu=cpu))
        cpu_rounds.append(cpu)
        if celery:
            rounds["celery_results"].append(run_celery(args.tasks, results=True))
            rounds["celery_no_results"].append(run_celery(args.tasks, results=False))
        rounds["raw_rq_simple_io"].append(run_raw(args.io_tasks, "rq.SimpleWorker", sleep_ms=args.io_ms))
        if threads:
            rounds["persisted_threads_io"].append(
                run_persisted(args.io_tasks, threads, payload=io_payload, env={"WORKER_THREADS": str(args.threads)})
            )
    medians = {key: (statistics.median(values) if values else None) for key, values in rounds.items()}
    ratios = {}
    for key, values in rounds.items():
        base = rounds["raw_rq_simple_io" if key.endswith("_io") else "raw_rq_simple"]
        if values and key not in ("raw_rq_simple", "raw_rq_simple_io"):
            ratios[key] = [value / raw for value, raw in zip(values, base, strict=True)]
    cpu = {key: statistics.median(c[key] for c in cpu_rounds) for key in cpu_rounds[0]} if cpu_rounds else {}
    return {"medians": medians, "rounds": rounds, "ratios": ratios, "cpu": cpu, "threads_class": threads}


def print_peers(peers: dict, args) -> None:
    medians, ratios = peers["medians"], peers["ratios"]
    print()
    print(
        f"Peers, interleaved ({args.rounds} rounds; {args.tasks} no-op tasks, I/O-bound: {args.io_tasks} tasks "
        f"waiting {args.io_ms} ms); ratio = median of the per-round ratios to raw RQ SimpleWorker of the same round:"
    )
    print()
    print("| run | tasks/s (median) | vs raw RQ (median of rounds) | per round |")
    print("|---|---:|---:|---|")
    for key in PEER_KEYS:
        if medians[key] is None:
            print(f"| {key} | n/a | | |")
            continue
        ratio = ratios.get(key)
        per_round = ", ".join(f"{r:.2f}x" for r in ratio) if ratio else ""
        median_ratio = f"{statistics.median(ratio):.2f}x" if ratio else "1.00x"
        print(f"| {key} | {medians[key]:.0f} | {median_ratio} | {per_round} |")
    if peers["cpu"]:
        cpu = peers["cpu"]
        print()
        print(
            f"persisted_batch, per task (median of rounds): worker {cpu['worker_ms']:.2f} ms CPU, PostgreSQL backends "
            f"{cpu['postgres_ms']:.2f} ms, Redis server {cpu['redis_ms']:.2f} ms; {cpu['redis_commands']:.1f} Redis "
            f"commands and {cpu['pg_transactions']:.2f} PostgreSQL transactions per task"
        )


def private_redis() -> subprocess.Popen:
    """A redis-server of the bench's own on a free port; REDIS_URL points at it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    global BENCH_REDIS
    BENCH_REDIS = f"redis://127.0.0.1:{port}/0"
    os.environ["REDIS_URL"] = BENCH_REDIS
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(BENCH_REDIS).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--latency-samples", type=int, default=500)
    parser.add_argument("--bulk", type=int, default=10000)
    parser.add_argument("--pickup-samples", type=int, default=200)
    parser.add_argument("--classes", default="simple,fork")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the table shows medians")
    parser.add_argument("--io-ms", type=int, default=10, help="per-task sleep of the I/O-bound scaling run")
    parser.add_argument("--io-tasks", type=int, default=400)
    parser.add_argument("--threads", type=int, default=16, help="threads of the threaded worker's I/O-bound run")
    parser.add_argument("--only-peers", action="store_true", help="only the peers comparison and the latencies")
    parser.add_argument(
        "--only-bulk",
        action="store_true",
        help="only the bulk enqueue rate and the single enqueue latency (no workers), interleaved per round",
    )
    parser.add_argument("--json", action="store_true", help="print the peers' medians as one JSON object")
    parser.add_argument("--private-redis", action="store_true", help="start a redis-server of its own for the run")
    args = parser.parse_args()

    redis_proc = private_redis() if args.private_redis else None
    try:
        _main(args)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)


def _main(args) -> None:
    ensure_database()
    import django

    django.setup()

    if args.only_bulk:
        only_bulk(args)
        return
    if args.only_peers:
        peers = run_peers(args)
        latency_rounds = [enqueue_latency(args.latency_samples) for _ in range(args.rounds)]
        bulk = statistics.median(bulk_rate(args.bulk) for _ in range(args.rounds))
        pickup = [pickup_latency(args.pickup_samples, BATCH_CLASS) for _ in range(args.rounds)]
        reset()
        rq_latency = [rq_enqueue_latency(args.latency_samples) for _ in range(args.rounds)]
        celery_latency = (
            [celery_enqueue_latency(args.latency_samples) for _ in range(args.rounds)] if celery_available() else []
        )
        extra = {
            "enqueue_p50_ms": statistics.median(r[0] for r in latency_rounds),
            "enqueue_p99_ms": statistics.median(r[1] for r in latency_rounds),
            "enqueue_rq_p50_ms": statistics.median(r[0] for r in rq_latency),
            "enqueue_rq_p99_ms": statistics.median(r[1] for r in rq_latency),
            "enqueue_celery_delay_p50_ms": statistics.median(r[0] for r in celery_latency) if celery_latency else None,
            "enqueue_celery_delay_p99_ms": statistics.median(r[1] for r in celery_latency) if celery_latency else None,
            "bulk_enqueue_per_s": bulk,
            "pickup_batch_p50_ms": statistics.median(p[0] for p in pickup),
            "pickup_batch_p99_ms": statistics.median(p[1] for p in pickup),
        }
        if args.json:
            import json

            ratios = {key: statistics.median(values) for key, values in peers["ratios"].items()}
            figures = {**peers["medians"], "ratios_to_raw_rq": ratios, "batch_cpu_per_task": peers["cpu"], **extra}
            figures["rounds"] = peers["rounds"]  # each run's tasks/s, in round order
            print(json.dumps(figures))
            return
        print(
            f"# Queue peers — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}"
        )
        print_peers(peers, args)
        print()
        print("| measure | value |")
        print("|---|---:|")
        print(
            f"| enqueue latency p50 / p99, persisted task (row + audit row + RQ job) | "
            f"{extra['enqueue_p50_ms']:.2f} / {extra['enqueue_p99_ms']:.2f} ms |"
        )
        print(
            f"| enqueue latency p50 / p99, raw RQ Queue.enqueue | "
            f"{extra['enqueue_rq_p50_ms']:.2f} / {extra['enqueue_rq_p99_ms']:.2f} ms |"
        )
        if extra["enqueue_celery_delay_p50_ms"] is not None:
            print(
                f"| enqueue latency p50 / p99, Celery .delay (no result backend) | "
                f"{extra['enqueue_celery_delay_p50_ms']:.2f} / {extra['enqueue_celery_delay_p99_ms']:.2f} ms |"
            )
        print(f"| bulk enqueue ({args.bulk} tasks, one call) | {bulk:.0f} tasks/s |")
        print(
            f"| pickup latency p50 / p99, idle batch worker | "
            f"{extra['pickup_batch_p50_ms']:.1f} / {extra['pickup_batch_p99_ms']:.1f} ms |"
        )
        return

    rows = []
    for label in args.classes.split(","):
        raw_class, task_class = WORKER_CLASSES[label]
        n = args.tasks if label == "simple" else max(args.tasks // 5, 200)
        keys = ("raw", "raw_ours", "persisted", "raw_two", "two", "cpu_raw_two", "cpu_two", "io_one", "io_two")
        rounds: dict[str, list[float]] = {key: [] for key in keys}
        io_payload = {"sleep_ms": args.io_ms}
        for _ in range(args.rounds):
            rounds["raw"].append(run_raw(n, raw_class))
            rounds["persisted"].append(run_persisted(n, task_class))
            rounds["raw_ours"].append(run_raw(n, task_class))
            for key, run, run_class in (("raw_two", run_raw, raw_class), ("two", run_persisted, task_class)):
                rate, cpu = busy(run, n, run_class, workers=2)
                rounds[key].append(rate)
                rounds[f"cpu_{key}"].append(cpu)
            rounds["io_one"].append(run_persisted(args.io_tasks, task_class, payload=io_payload))
            rounds["io_two"].append(run_persisted(args.io_tasks, task_class, workers=2, payload=io_payload))
        row = {key: statistics.median(values) for key, values in rounds.items()}
        row.update(label=label, n=n, rounds=rounds)
        rows.append(row)

    # Latencies, bulk rate and pickup are measured once per round too; the table shows medians.
    latency_rounds = [enqueue_latency(args.latency_samples) for _ in range(args.rounds)]
    p50 = statistics.median(p50 for p50, _ in latency_rounds)
    p99 = statistics.median(p99 for _, p99 in latency_rounds)
    bulk = statistics.median(bulk_rate(args.bulk) for _ in range(args.rounds))
    pickups = {}
    for label in args.classes.split(","):
        samples = [pickup_latency(args.pickup_samples, WORKER_CLASSES[label][1]) for _ in range(args.rounds)]
        pickups[label] = (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))
    reset()

    print(
        f"# Queue throughput — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; medians of {args.rounds} interleaved rounds"
    )
    print()
    print(
        "| worker class | tasks | raw RQ, RQ's class (jobs/s) | raw RQ, our class (jobs/s) | "
        "persisted, 1 worker (tasks/s) | persisted vs raw RQ | raw RQ, 2 workers | persisted, 2 workers | "
        "persisted 2 vs 1 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['label']} | {row['n']} | {row['raw']:.0f} | {row['raw_ours']:.0f} | {row['persisted']:.0f} | "
            f"{row['persisted'] / row['raw']:.2f}x | {row['raw_two']:.0f} ({row['raw_two'] / row['raw']:.2f}x) | "
            f"{row['two']:.0f} | {row['two'] / row['persisted']:.2f}x |"
        )
    print()
    for row in rows:
        runs = row["rounds"]
        ratios = ", ".join(f"{p / r:.2f}x" for p, r in zip(runs["persisted"], runs["raw"], strict=True))
        scaling = ", ".join(f"{t / p:.2f}x" for t, p in zip(runs["two"], runs["persisted"], strict=True))
        print(f"{row['label']}: persisted vs raw RQ per round {ratios}; 2 vs 1 per round {scaling}")
    print()
    print(
        f"Two workers on this machine's {os.cpu_count()} cores, which PostgreSQL, Redis and this process share: "
        "how busy the CPUs were (median), and the same persisted pair when each task waits "
        f"{args.io_ms} ms on I/O ({args.io_tasks} tasks, as handlers that call Upwork or OpenAI do):"
    )
    print()
    print(
        "| worker class | CPU busy, raw RQ 2 workers | CPU busy, persisted 2 workers | "
        "I/O-bound, 1 worker (tasks/s) | I/O-bound, 2 workers | 2 vs 1 |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['label']} | {row['cpu_raw_two']:.0%} | {row['cpu_two']:.0%} | {row['io_one']:.0f} | "
            f"{row['io_two']:.0f} | {row['io_two'] / row['io_one']:.2f}x |"
        )
    print()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| enqueue latency p50 ({args.latency_samples} single enqueues per round) | {p50:.2f} ms |")
    print(f"| enqueue latency p99 | {p99:.2f} ms |")
    print(f"| enqueue latency p99 per round | {', '.join(f'{r[1]:.2f}' for r in latency_rounds)} ms |")
    print(f"| bulk enqueue ({args.bulk} tasks, one call; median of {args.rounds}) | {bulk:.0f} tasks/s |")
    for label, (pickup50, pickup99) in pickups.items():
        print(f"| pickup latency p50 / p99, idle {label} worker | {pickup50:.1f} / {pickup99:.1f} ms |")


if __name__ == "__main__":
    main()
