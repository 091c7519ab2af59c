"""`manage.py run_workers`: start the configured worker set, supervise it, stop it gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from queue_app import registry

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
# More than RQ's 1 s window in which a repeated stop signal is taken for the same one.
COLD_STOP_RESEND_SECONDS = 1.5


@dataclass
class Slot:
    """One supervised worker process."""

    pool: str
    queues: list[str]
    proc: subprocess.Popen | None = None
    failures: int = 0
    restart_at: float = 0.0
    started: float = field(default=0.0)


def parse_pools(spec: str, default_count: int) -> list[tuple[str, list[str], int]]:
    """'discovery:1,proposals:2,applications+system:1' -> [(label, queue args, count), ...].

    Empty: default_count workers serving every family. Raises CommandError on a bad spec.
    """
    if not spec.strip():
        return [("all", list(settings.TASK_PRIORITIES), default_count)]
    known = set(registry.families())
    pools = []
    for part in spec.split(","):
        label, _, count_text = part.strip().partition(":")
        count_text = count_text.partition(":")[0]  # a third field is the pool's worker kind (pool_threads, pool_batch)
        names = [name.strip() for name in label.split("+") if name.strip()]
        unknown = [name for name in names if name not in known and name != "all"]
        if not names or unknown:
            raise CommandError(
                f"Worker pool '{part.strip()}' names unknown families {unknown or '(none)'}; "
                f"use families from {', '.join(sorted(known))} or 'all', e.g. 'discovery:1,proposals+system:2'."
            )
        try:
            count = int(count_text) if count_text else default_count
        except ValueError:
            raise CommandError(f"Worker pool '{part.strip()}': the count after ':' must be a whole number.") from None
        if count < 0:
            raise CommandError(f"Worker pool '{part.strip()}': the count cannot be negative.")
        queues = list(settings.TASK_PRIORITIES) if "all" in names else names
        pools.append(("+".join(names), queues, count))
    return pools


THREAD_WORKER_CLASS = "queue_app.thread_worker.TaskThreadWorker"
DEFAULT_POOL_THREADS = 16  # a pool that says 'threads' while WORKER_THREADS is 0


def pool_threads(spec: str, default_threads: int) -> dict[str, int]:
    """Threads per worker of each pool: 'proposals:1:threads16' -> {'proposals': 16}.

    The third field 'threads' (WORKER_THREADS, or 16 when that is 0) or 'threadsN' asks for thread
    workers; a pool without one gets default_threads (WORKER_THREADS; 0 means one task at a time,
    i.e. the configured worker class). Raises CommandError on a bad value.
    """
    if not spec.strip():
        return {"all": default_threads}
    threads = {}
    for part in spec.split(","):
        fields = part.strip().split(":")
        label = "+".join(name.strip() for name in fields[0].split("+") if name.strip())
        kind = fields[2].strip() if len(fields) > 2 else ""
        if not kind:
            threads[label] = default_threads
            continue
        if kind.startswith("batch"):  # another kind of worker (pool_batch)
            threads[label] = 0
            continue
        number = kind.removeprefix("threads")
        if not kind.startswith("threads") or (number and (not number.isdigit() or int(number) < 1)):
            raise CommandError(
                f"Worker pool '{part.strip()}': the third field names the kind of worker: 'threads' or "
                "'threadsN' (N threads per worker, e.g. 'proposals:1:threads16'), or leave it out."
            )
        threads[label] = int(number) if number else (default_threads or DEFAULT_POOL_THREADS)
    return threads


BATCH_WORKER_CLASS = "queue_app.batch_worker.TaskBatchWorker"


def pool_batch(spec: str) -> dict[str, int | None]:
    """Pools whose third field asks for the batch worker: 'discovery:1:batch' or 'discovery:1:batch64'.

    Returns {label: batch size (None: WORKER_BATCH_SIZE)}. Raises CommandError on a bad value.
    """
    batches: dict[str, int | None] = {}
    for part in spec.split(",") if spec.strip() else []:
        fields = part.strip().split(":")
        if len(fields) < 3 or not fields[2].strip().startswith("batch"):
            continue
        label = "+".join(name.strip() for name in fields[0].split("+") if name.strip())
        size_text = fields[2].strip().removeprefix("batch")
        if size_text and (not size_text.isdigit() or int(size_text) < 1):
            raise CommandError(
                f"Worker pool '{part.strip()}': 'batch' may be followed by the batch size, a whole number "
                "of 1 or more (e.g. 'discovery:1:batch64')."
            )
        batches[label] = int(size_text) if size_text else None
    return batches


class Command(BaseCommand):
    help = (
        "Start the worker set from WORKER_POOLS (default: WORKER_CONCURRENCY workers on every family), "
        "restart any that die with backoff, and on SIGTERM give running tasks a grace period before stopping "
        "them (stopped tasks go back to the queue)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pools", help="Override WORKER_POOLS, e.g. 'discovery:1,proposals+system:2'.")
        parser.add_argument("--count", type=int, help="Workers per pool without a count (default WORKER_CONCURRENCY).")
        parser.add_argument("--worker-class", help="RQ worker class path (default settings.RQ['WORKER_CLASS']).")
        parser.add_argument(
            "--grace", type=float, help="Seconds running tasks get on shutdown (WORKER_SHUTDOWN_GRACE)."
        )

    def handle(self, *args, **options):
        count = options["count"] if options["count"] is not None else settings.WORKER_CONCURRENCY
        if count < 1:
            raise CommandError("--count must be at least 1 (or set WORKER_CONCURRENCY to 1 or more).")
        pools = parse_pools(options["pools"] if options["pools"] is not None else settings.WORKER_POOLS, count)
        grace = options["grace"] if options["grace"] is not None else settings.WORKER_SHUTDOWN_GRACE
        spec = options["pools"] if options["pools"] is not None else settings.WORKER_POOLS
        threads = pool_threads(spec, settings.WORKER_THREADS)
        slots = [Slot(pool=label, queues=queues) for label, queues, n in pools for _ in range(n)]
        if not slots:
            raise CommandError("The worker set is empty: give at least one pool a count of 1 or more.")
        extra = ["--worker-class", options["worker_class"]] if options.get("worker_class") else []
        batches = pool_batch(options["pools"] if options["pools"] is not None else settings.WORKER_POOLS)

        def worker_command(slot: Slot) -> tuple[list[str], dict[str, str] | None]:
            command = [sys.executable, MANAGE, "rqworker", *slot.queues, "--with-scheduler"]
            if slot.pool in batches:
                size = batches[slot.pool]  # a batch pool runs batch workers, whatever --worker-class says
                env = {**os.environ, "WORKER_BATCH_SIZE": str(size)} if size else None
                return [*command, "--worker-class", BATCH_WORKER_CLASS], env
            count = threads.get(slot.pool, 0)
            if not count:
                return [*command, *extra], None
            # A pool with threads runs thread workers (unless --worker-class names another class).
            chosen = extra or ["--worker-class", THREAD_WORKER_CLASS]
            return [*command, *chosen], {**os.environ, "WORKER_THREADS": str(count)}

        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

        for label, queues, n in pools:
            kind = ""
            if label in batches:
                kind = f", batch workers ({batches[label] or settings.WORKER_BATCH_SIZE} tasks per cycle)"
            elif threads.get(label):
                kind = f", {threads[label]} threads each"
            self.stdout.write(f"Pool {label}: {n} worker(s) on {' '.join(queues)}{kind}")
        while not stopping:
            now = time.monotonic()
            for index, slot in enumerate(slots):
                proc = slot.proc
                if proc is not None and proc.poll() is not None:
                    slot.failures += 1
                    backoff = min(2**slot.failures, 60)
                    self.stderr.write(
                        f"Worker {index} ({slot.pool}, pid {proc.pid}) exited with code {proc.returncode}; "
                        f"restarting in {backoff}s."
                    )
                    slot.proc, slot.restart_at = None, now + backoff
                if slot.proc is None and now >= slot.restart_at:
                    command, env = worker_command(slot)
                    slot.proc = subprocess.Popen(command, env=env)
                    slot.started = now
                elif slot.proc is not None and now - slot.started > 60:
                    slot.failures = 0
            time.sleep(0.2)

        self.stdout.write(f"Stopping workers: running tasks get {grace:.0f}s to finish.")
        running = [slot.proc for slot in slots if slot.proc is not None and slot.proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task, take no new one
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(proc.poll() is None for proc in running):
            time.sleep(0.2)
        # Second SIGTERM: cold shutdown. The horse is killed and the worker puts its task back. RQ
        # ignores a second signal that comes within 1 s of the first by its own clock, and a busy
        # worker may have handled the first one late, so it is repeated until the worker is gone.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(proc.poll() is None for proc in running):
            for proc in running:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            resend_at = time.monotonic() + COLD_STOP_RESEND_SECONDS
            while time.monotonic() < min(resend_at, deadline) and any(proc.poll() is None for proc in running):
                time.sleep(0.1)
        for proc in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.stdout.write("All workers stopped.")
