"""Maintenance verbs of `manage.py queue`: reconcile, recover, monitor, workers."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.core.management.base import CommandError

from queue_app import maintenance, transport
from queue_app.worker_status import workers_snapshot


class MaintenanceVerbs:
    def add_verbs(self, verbs) -> None:
        verbs.add_parser("reconcile", help="Re-deliver waiting tasks whose RQ job is missing from Redis.")
        verbs.add_parser("recover", help="Re-queue tasks left in processing by workers that stopped heartbeating.")
        monitor = verbs.add_parser(
            "monitor", help="Run the crash sweep and reconcile in a loop (when no scheduler process runs)."
        )
        monitor.add_argument("--interval", type=float, default=None, help="Seconds between runs.")
        monitor.add_argument("--once", action="store_true", help="Run once and exit.")
        workers = verbs.add_parser("workers", help="List workers: host, pid, families, state, task, usage.")
        workers.add_argument("--json", action="store_true")
        workers.add_argument("--all", action="store_true", help="Include stopped workers.")

    def handle_reconcile(self, command, options):
        try:
            ids = maintenance.tasks_reconcile()
        except transport.RedisError as error:
            raise CommandError(
                f"Redis is unreachable ({error}); start it or check REDIS_URL, then run again."
            ) from None
        command.stdout.write(f"Re-delivered {len(ids)} task(s) missing from Redis.")
        for task_id in ids:
            command.stdout.write(f"  {task_id}")

    def handle_recover(self, command, options):
        try:
            ids = maintenance.tasks_recover_crashed()
        except transport.RedisError as error:
            raise CommandError(
                f"Redis is unreachable ({error}); start it or check REDIS_URL, then run again."
            ) from None
        command.stdout.write(f"Re-queued {len(ids)} task(s) from dead workers.")
        for task_id in ids:
            command.stdout.write(f"  {task_id}")

    def handle_monitor(self, command, options):
        interval = options["interval"] or settings.MAINTENANCE_INTERVAL
        if interval <= 0:
            raise CommandError("--interval must be more than 0 seconds.")
        while True:
            report = maintenance.run_maintenance()
            if report.get("recovered") or report.get("reconciled"):
                command.stdout.write(
                    f"recovered {len(report.get('recovered', []))}, reconciled {len(report.get('reconciled', []))}"
                )
            if options["once"]:
                return
            time.sleep(interval)

    def handle_workers(self, command, options):
        rows = workers_snapshot(include_stopped=options["all"])
        if options["json"]:
            command.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            command.stdout.write("No workers are running. Start some with `python manage.py run_workers`.")
            return
        command.stdout.write(
            f"{'NAME':34} {'HOST':16} {'PID':>7} {'FAMILIES':28} {'STATE':8} {'DONE':>6} {'FAIL':>5} "
            f"{'RSS MB':>7} {'CPU s':>7} {'UP s':>7}  CURRENT TASK"
        )
        for row in rows:
            command.stdout.write(
                f"{row['name'][:34]:34} {row['host'][:16]:16} {row['pid']:>7} {','.join(row['families'])[:28]:28} "
                f"{row['state']:8} {row['tasks_done']:>6} {row['tasks_failed']:>5} {row['rss_mb'] or '-':>7} "
                f"{row['cpu_seconds'] if row['cpu_seconds'] is not None else '-':>7} {row['uptime_seconds']:>7}  "
                f"{row['current_task'] or '-'}"
            )
