"""I/O-bound tasks: one thread worker (16 threads) beside one raw RQ SimpleWorker, interleaved rounds.

Usage: python bench/threads_io.py [--rounds N] [--io-ms MS] [--threads N] [--json]

Each task waits --io-ms on I/O (a sleep, as a handler waiting on Upwork or OpenAI does). Raw RQ
runs bare jobs that sleep as long (no database); the thread worker runs persisted noop tasks
(row, conditional start and end, RQ bookkeeping). Figures in tasks/s, medians of the rounds;
the thread worker's peak RSS (VmHWM) too. Uses bench/throughput.py's database and Redis db.

`thread_figures()` returns the two figures (`persisted_threads_io`, `raw_rq_simple_io`) for
bench/throughput.py's --json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if __name__ == "__main__":  # run on its own: a database and Redis db of its own (not the throughput bench's)
    os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/upwork_bench_threads")
    os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

import bench.throughput as throughput  # noqa: E402  (sets the bench's DATABASE_URL / REDIS_URL first)

THREAD_CLASS = "queue_app.thread_worker.TaskThreadWorker"
RAW_CLASS = "rq.SimpleWorker"


def io_job(ms: int) -> None:
    """The raw-RQ job: waits ms milliseconds, nothing else."""
    time.sleep(ms / 1000)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_by_thread(pid: int) -> dict[str, float]:
    """The worker's CPU seconds so far by thread: main, pool (task-N), recorder, other (writer, pubsub...).

    A thread that ended is not counted: the pool, recorder and writer live as long as the worker."""
    seconds: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        if task.name == str(pid):
            label = "main"
        elif comm.startswith("task-") and comm[5:].isdigit():
            label = "pool"
        elif comm == "task-recorder":
            label = "recorder"
        else:
            label = "other"
        seconds[label] = seconds.get(label, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def run_raw_io(n: int, io_ms: int) -> tuple[float, float]:
    """One raw RQ SimpleWorker, N jobs that each sleep io_ms. Returns (jobs/s, worker CPU ms per job).

    Timed from the enqueue's start to the last job's ended_at."""
    from rq import Queue
    from rq.registry import FinishedJobRegistry

    from queue_app.transport import get_connection

    throughput.reset()
    procs = throughput.start_workers(1, RAW_CLASS)
    try:
        connection = get_connection()
        queue = Queue(throughput.RAW_QUEUE, connection=connection)
        registry = FinishedJobRegistry(throughput.RAW_QUEUE, connection=connection)
        cpu = _cpu_seconds(procs[0].pid)
        started = time.time()
        jobs = queue.enqueue_many([Queue.prepare_data("bench.threads_io.io_job", args=(io_ms,)) for _ in range(n)])
        throughput.wait_until(lambda: registry.count >= n, interval=0.05)
        with connection.pipeline(transaction=False) as pipe:
            for job in jobs:
                pipe.hget(f"rq:job:{job.id}", "ended_at")
            ended = max(datetime.fromisoformat(v.decode().replace("Z", "+00:00")) for v in pipe.execute())
        return n / (ended.timestamp() - started), (_cpu_seconds(procs[0].pid) - cpu) * 1000 / n
    finally:
        throughput.stop_workers(procs)


def run_threads_io(n: int, io_ms: int, threads: int) -> tuple[float, float, float, dict[str, float]]:
    """One thread worker, N persisted noop tasks that each sleep io_ms.

    Returns (tasks/s, peak RSS MB, worker CPU ms per task, that CPU by thread)."""
    from django.db.models import Max

    from queue_app import services
    from queue_app.models import Task, TaskStatus

    throughput.reset()
    os.environ["WORKER_THREADS"] = str(threads)
    procs = throughput.start_workers(1, THREAD_CLASS)
    try:
        cpu = _cpu_seconds(procs[0].pid)
        by_thread = _cpu_by_thread(procs[0].pid)
        started = time.time()
        payload = {"sleep_ms": io_ms}
        for offset in range(0, n, 1000):
            services.task_enqueue_many(
                requests=[
                    services.EnqueueRequest(task_type="noop", payload=payload) for _ in range(min(1000, n - offset))
                ]
            )
        throughput.wait_until(lambda: Task.objects.filter(status=TaskStatus.COMPLETED).count() >= n, interval=0.05)
        assert not Task.objects.exclude(status=TaskStatus.COMPLETED).exists()
        ended = Task.objects.aggregate(last=Max("finished_at"))["last"]
        cpu_per_task = (_cpu_seconds(procs[0].pid) - cpu) * 1000 / n
        after = _cpu_by_thread(procs[0].pid)
        split = {label: (after[label] - by_thread.get(label, 0.0)) * 1000 / n for label in after}
        return n / (ended.timestamp() - started), _peak_rss_mb(procs[0].pid), cpu_per_task, split
    finally:
        throughput.stop_workers(procs)
        os.environ.pop("WORKER_THREADS", None)


def thread_figures(
    *, rounds: int = 3, io_ms: int = 10, threads: int = 16, raw_tasks: int = 400, thread_tasks: int = 3000
) -> dict:
    """Interleaved rounds (raw RQ, then the thread worker); medians, per-round figures and the peak RSS."""
    raw, persisted, rss, raw_cpu, thread_cpu, splits = [], [], [], [], [], []
    for _ in range(rounds):
        rate, cpu = run_raw_io(raw_tasks, io_ms)
        raw.append(rate)
        raw_cpu.append(cpu)
        rate, peak, cpu, split = run_threads_io(thread_tasks, io_ms, threads)
        persisted.append(rate)
        rss.append(peak)
        thread_cpu.append(cpu)
        splits.append(split)
    return {
        "persisted_threads_io": statistics.median(persisted),
        "raw_rq_simple_io": statistics.median(raw),
        "rounds": {"persisted_threads_io": persisted, "raw_rq_simple_io": raw},
        "thread_worker_peak_rss_mb": max(rss),
        "worker_cpu_ms_per_task": {
            "persisted_threads_io": statistics.median(thread_cpu),
            "raw_rq_simple_io": statistics.median(raw_cpu),
        },
        "thread_worker_cpu_ms_per_task_by_thread": {
            label: statistics.median(split.get(label, 0.0) for split in splits)
            for label in sorted({label for split in splits for label in split})
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--io-ms", type=int, default=10)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--raw-tasks", type=int, default=400)
    parser.add_argument("--thread-tasks", type=int, default=3000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    throughput.ensure_database()
    import django

    django.setup()
    figures = thread_figures(
        rounds=args.rounds,
        io_ms=args.io_ms,
        threads=args.threads,
        raw_tasks=args.raw_tasks,
        thread_tasks=args.thread_tasks,
    )
    throughput.reset()
    if args.json:
        print(json.dumps(figures))
        return
    ratio = figures["persisted_threads_io"] / figures["raw_rq_simple_io"]
    per_round = ", ".join(
        f"{p / r:.1f}x"
        for p, r in zip(figures["rounds"]["persisted_threads_io"], figures["rounds"]["raw_rq_simple_io"], strict=True)
    )
    print(
        f"# I/O-bound tasks ({args.io_ms} ms wait) — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores; medians of {args.rounds} interleaved rounds"
    )
    print()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| raw RQ SimpleWorker, 1 process ({args.raw_tasks} bare jobs) | {figures['raw_rq_simple_io']:.0f} jobs/s |")
    print(
        f"| persisted, 1 TaskThreadWorker with {args.threads} threads ({args.thread_tasks} tasks) | "
        f"{figures['persisted_threads_io']:.0f} tasks/s |"
    )
    print(f"| thread worker vs raw RQ | {ratio:.1f}x (per round {per_round}) |")
    print(f"| thread worker peak RSS (VmHWM) | {figures['thread_worker_peak_rss_mb']:.0f} MB |")
    cpu = figures["worker_cpu_ms_per_task"]
    print(
        f"| worker process CPU per task: thread worker / raw RQ | {cpu['persisted_threads_io']:.2f} / "
        f"{cpu['raw_rq_simple_io']:.2f} ms |"
    )
    split = ", ".join(f"{label} {ms:.2f}" for label, ms in figures["thread_worker_cpu_ms_per_task_by_thread"].items())
    print(f"| thread worker CPU per task by thread (ms) | {split} |")
    print(f"| machine load average at the end (1 min) | {os.getloadavg()[0]:.1f} |")


if __name__ == "__main__":
    main()
