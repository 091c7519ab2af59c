"""`manage.py queue_stats [--json] [--watch SECONDS]`: queue statistics, once or refreshed."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from queue_app.cli.monitoring import write_stats


class Command(BaseCommand):
    help = "Show queue statistics (same as `manage.py queue stats`); --watch refreshes every N seconds."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="One JSON document (one per line with --watch).")
        parser.add_argument("--watch", type=float, metavar="SECONDS", help="Refresh every SECONDS until Ctrl-C.")
        parser.add_argument("--count", type=int, help="With --watch: stop after this many refreshes.")

    def handle(self, *args, **options):
        write_stats(self, as_json=options["json"], watch=options.get("watch"), count=options.get("count"))
