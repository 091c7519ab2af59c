"""Maintenance verbs of `manage.py queue`: reconcile, recover, monitor."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import CommandError

from queue_app import maintenance, transport


class MaintenanceVerbs:
    def add_verbs(self, verbs) -> None:
        verbs.add_parser("reconcile", help="Re-deliver waiting tasks whose RQ job is missing from Redis.")
        verbs.add_parser("recover", help="Re-queue tasks left in processing by workers that stopped heartbeating.")
        monitor = verbs.add_parser(
            "monitor", help="Run the crash sweep and reconcile in a loop (when no scheduler process runs)."
        )
        monitor.add_argument("--interval", type=float, default=None, help="Seconds between runs.")
        monitor.add_argument("--once", action="store_true", help="Run once and exit.")

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
