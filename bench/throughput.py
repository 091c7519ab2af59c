"""Queue throughput and latency: persisted tasks beside raw RQ, measured in one run.

Usage: python bench/throughput.py [--tasks N] [--rounds N] [--latency-samples N] [--bulk N]

Uses its own database (upwork_bench_throughput, created if missing) and Redis database 14,
both flushed, and real `manage.py rqworker` processes. Prints a table.

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
    WORKER_EXTRA_JOB_FUNCTIONS="bench.raw_jobs.noop",
)
QUEUES = ["critical", "high", "normal", "low"]
# Bare jobs go where noop tasks go, so both kinds of worker (ours expands 'normal' to every
# family's normal queue) listen to the same queue list.
RAW_QUEUE = "system.normal"
WORKER_CLASSES = {
    "simple": ("rq.SimpleWorker", "queue_app.worker.TaskSimpleWorker"),
    "fork": ("rq.Worker", "queue_app.worker.TaskWorker"),
}


def ensure_database() -> None:
    import psycopg

    name = BENCH_DB.rsplit("/", 1)[1]
    admin_url = BENCH_DB.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)


def start_workers(count: int, worker_class: str) -> list[subprocess.Popen]:
    from queue_app.worker import expand_queue_names

    queues = expand_queue_names(QUEUES)  # the same list for RQ's classes and ours
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", *queues, "--worker-class", worker_class, "-v", "0"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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


def run_raw(n: int, worker_class: str, workers: int = 1) -> float:
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
            jobs = queue.enqueue_many([Queue.prepare_data("bench.raw_jobs.noop") for _ in range(min(1000, n - offset))])
            ids.extend(job.id for job in jobs)
        wait_until(lambda: registry.count >= n, interval=0.05)
        with connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(f"rq:job:{job_id}", "ended_at")
            ended = max(datetime.fromisoformat(value.decode().replace("Z", "+00:00")) for value in pipe.execute())
        return n / (ended.timestamp() - started)
    finally:
        stop_workers(procs)


def run_persisted(n: int, worker_class: str, workers: int = 1, payload: dict | None = None) -> float:
    """Persisted tasks: N noop rows via bulk enqueue; enqueue start -> last row's finished_at."""
    from django.db.models import Max

    from queue_app import services
    from queue_app.models import Task, TaskStatus

    reset()
    procs = start_workers(workers, worker_class)
    try:
        started = time.time()
        for offset in range(0, n, 1000):
            services.task_enqueue_many(
                requests=[
                    services.EnqueueRequest(task_type="noop", payload=payload) for _ in range(min(1000, n - offset))
                ]
            )
        wait_until(lambda: Task.objects.filter(status=TaskStatus.COMPLETED).count() >= n, interval=0.05)
        assert not Task.objects.exclude(status=TaskStatus.COMPLETED).exists()
        ended = Task.objects.aggregate(last=Max("finished_at"))["last"]
        return n / (ended.timestamp() - started)
    finally:
        stop_workers(procs)


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


def bulk_rate(n: int) -> float:
    from queue_app import services

    reset()
    requests = [services.EnqueueRequest(task_type="noop") for _ in range(n)]
    started = time.perf_counter()
    services.task_enqueue_many(requests=requests)
    return n / (time.perf_counter() - started)


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
    args = parser.parse_args()

    ensure_database()
    import django

    django.setup()

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
