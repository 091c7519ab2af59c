"""`manage.py run_workers`: start and supervise WORKER_CONCURRENCY rqworker processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


class Command(BaseCommand):
    help = "Start N rqworker processes on all priority queues, restart any that die, stop them on SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, help="Worker processes (default WORKER_CONCURRENCY).")
        parser.add_argument("--worker-class", help="RQ worker class path (default settings.RQ['WORKER_CLASS']).")
        parser.add_argument("--grace", type=float, default=30.0, help="Seconds running tasks get on shutdown.")

    def handle(self, *args, **options):
        count = options["count"] or settings.WORKER_CONCURRENCY
        if count < 1:
            raise CommandError("--count must be at least 1 (or set WORKER_CONCURRENCY to 1 or more).")
        command = [sys.executable, MANAGE, "rqworker", *settings.TASK_PRIORITIES, "--with-scheduler"]
        if options.get("worker_class"):
            command += ["--worker-class", options["worker_class"]]
        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

        slots: list[dict] = [{"proc": None, "failures": 0, "restart_at": 0.0} for _ in range(count)]
        self.stdout.write(f"Starting {count} worker(s): {' '.join(command[1:])}")
        while not stopping:
            now = time.monotonic()
            for index, slot in enumerate(slots):
                proc = slot["proc"]
                if proc is not None and proc.poll() is not None:
                    slot["failures"] += 1
                    backoff = min(2 ** slot["failures"], 60)
                    self.stderr.write(
                        f"Worker {index} (pid {proc.pid}) exited with code {proc.returncode}; restarting in {backoff}s."
                    )
                    slot["proc"], slot["restart_at"] = None, now + backoff
                if slot["proc"] is None and now >= slot["restart_at"]:
                    slot["proc"] = subprocess.Popen(command)
                    slot["started"] = now
                elif proc is not None and now - slot.get("started", now) > 60:
                    slot["failures"] = 0
            time.sleep(0.5)

        self.stdout.write("Stopping workers: running tasks get a grace period.")
        running = [slot["proc"] for slot in slots if slot["proc"] is not None and slot["proc"].poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task
        deadline = time.monotonic() + options["grace"]
        while time.monotonic() < deadline and any(proc.poll() is None for proc in running):
            time.sleep(0.2)
        for proc in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # second SIGTERM: cold shutdown, the horse is killed
        for proc in running:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.stdout.write("All workers stopped.")
