"""`manage.py queue_stats [--json] [--watch SECONDS]`: queue statistics, once or refreshed."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from queue_app import selectors
from queue_app.cli.monitoring import render_stats

CLEAR_SCREEN = "\033[2J\033[H"


class Command(BaseCommand):
    help = "Show queue statistics (same as `manage.py queue stats`); --watch refreshes every N seconds."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="One JSON document (one per line with --watch).")
        parser.add_argument("--watch", type=float, metavar="SECONDS", help="Refresh every SECONDS until Ctrl-C.")
        parser.add_argument("--count", type=int, help="With --watch: stop after this many refreshes.")

    def handle(self, *args, **options):
        watch, count = options.get("watch"), options.get("count")
        if watch is not None and watch < 0.5:
            raise CommandError("--watch must be at least 0.5 seconds.")
        if count is not None and count < 1:
            raise CommandError("--count must be at least 1.")
        shown = 0
        try:
            while True:
                stats = selectors.queue_stats()
                if options["json"]:
                    self.stdout.write(json.dumps(stats, default=str, indent=None if watch else 2))
                else:
                    self.stdout.write((CLEAR_SCREEN if watch else "") + "\n".join(render_stats(stats)))
                self.stdout.flush()
                shown += 1
                if watch is None or (count is not None and shown >= count):
                    return
                time.sleep(watch)
        except KeyboardInterrupt:
            return
