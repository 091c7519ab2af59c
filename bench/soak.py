"""Soak: 10,000 noop tasks, 1 % failing their first attempt, a worker killed twice (kill -9).

Usage: python bench/soak.py [--tasks N] [--worker-class CLASS] [--threads N]

--threads sets WORKER_THREADS for the workers (queue_app.thread_worker.TaskThreadWorker reads it).

Checks that every task completes, none is stuck, and the RSS of a worker that runs throughout
grows by less than 10 MB. Uses its own database (upwork_bench_soak) and Redis database 13.
Prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/upwork_bench_soak")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.update(
    DATABASE_URL=DB,
    REDIS_URL=REDIS,
    DJANGO_SETTINGS_MODULE="upwork_automation.settings.base",
    LOG_LEVEL="WARNING",
    RETRY_BACKOFF_BASE="1",
    DEFAULT_TASKS_ENABLED="false",
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--worker-class", default="queue_app.worker.TaskSimpleWorker")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--threads", type=int, default=8, help="WORKER_THREADS of the workers (thread worker)")
    args = parser.parse_args()
    os.environ["WORKER_THREADS"] = str(args.threads)

    import bench.throughput as throughput

    # Importing the throughput bench points DATABASE_URL and REDIS_URL at its own database and
    # Redis db: point them back at the soak's before anything connects.
    os.environ.update(DATABASE_URL=DB, REDIS_URL=REDIS, BENCH_DATABASE_URL=DB)
    throughput.BENCH_DB = DB
    ensure_database = throughput.ensure_database
    ensure_database()
    import django

    django.setup()
    from django.db.models import Count

    from queue_app import services
    from queue_app.models import Task, TaskStatus

    throughput.reset()

    def start(*command: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", *command], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def worker() -> subprocess.Popen:
        return start(
            "rqworker",
            "critical",
            "high",
            "normal",
            "low",
            "--with-scheduler",
            "--worker-class",
            args.worker_class,
            "-v",
            "0",
        )

    def kill(proc: subprocess.Popen) -> None:
        for pid in [*descendants(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()

    failing = max(1, args.tasks // 100)
    started = time.perf_counter()
    for offset in range(0, args.tasks, 1000):
        batch = range(offset, min(args.tasks, offset + 1000))
        services.task_enqueue_many(
            requests=[
                services.EnqueueRequest(task_type="noop", payload={"fail_times": 1} if i % 100 == 0 else {})
                for i in batch
            ]
        )
    monitor = start("queue", "monitor", "--interval", "1")
    steady = worker()
    victim = worker()
    processes = [monitor, steady, victim]

    def completed() -> int:
        return Task.objects.filter(status=TaskStatus.COMPLETED).count()

    deadline = time.monotonic() + args.timeout
    kills = 0
    rss_start = None
    while True:
        done = completed()
        if rss_start is None and done >= args.tasks * 0.1:
            rss_start = rss_mb(steady.pid)
        if (kills == 0 and done >= args.tasks * 0.2) or (kills == 1 and done >= args.tasks * 0.6):
            kill(victim)
            kills += 1
            victim = worker()
            processes.append(victim)
        if done >= args.tasks:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    rss_end = rss_mb(steady.pid)
    for proc in processes:
        if proc.poll() is None:
            kill(proc)

    counts = dict(Task.objects.values_list("status").annotate(n=Count("id")))
    retried = Task.objects.filter(attempts__gt=1).count()
    # The completed row no longer carries the crash error: count retried tasks that never failed by design.
    recovered = Task.objects.filter(attempts__gt=1).exclude(payload__fail_times=1).count()
    stuck = args.tasks - counts.get(TaskStatus.COMPLETED, 0)
    growth = rss_end - (rss_start or rss_end)
    print(
        f"# Soak — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
        f"{args.worker_class.rsplit('.', 1)[1]}"
        + (f", {args.threads} threads" if "Thread" in args.worker_class else "")
    )
    print()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| tasks | {args.tasks} |")
    print(f"| failing their first attempt | {failing} |")
    print(f"| workers killed with kill -9 | {kills} |")
    print(f"| completed | {counts.get(TaskStatus.COMPLETED, 0)} |")
    print(f"| not completed (stuck or failed) | {stuck} |")
    print(f"| tasks that needed more than one attempt | {retried} |")
    print(f"| tasks recovered from a killed worker | {recovered} |")
    print(f"| wall time | {elapsed:.0f} s ({args.tasks / elapsed:.0f} tasks/s) |")
    print(f"| RSS of the surviving worker at 10 % / end | {rss_start or 0:.1f} / {rss_end:.1f} MB |")
    print(f"| RSS growth | {growth:+.1f} MB ({'OK' if growth < 10 else 'over the 10 MB budget'}) |")
    sys.exit(0 if stuck == 0 and growth < 10 else 1)


if __name__ == "__main__":
    main()
