"""Monitoring verbs of `manage.py queue`: stats, health (exit code 0/1/2 for probes), analyze."""

from __future__ import annotations

import json
import sys
import time

from django.core.management.base import CommandError

from queue_app import health, registry, selectors

CLEAR_SCREEN = "\033[2J\033[H"


def _dump(value) -> str:
    return json.dumps(value, indent=2, default=str)


def _fmt(value, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}{suffix}" if value < 10 else f"{value:.1f}{suffix}"
    return f"{value}{suffix}"


def render_stats(stats: dict) -> list[str]:
    """The stats as lines for a terminal."""
    lines = [f"Queue stats at {stats['generated_at']}", ""]
    lines.append("By status (finished: lifetime totals):")
    lines += [f"  {status:<11} {count:>10}" for status, count in stats["by_status"].items()]
    lines += ["", f"  {'QUEUE':<9} {'ROWS WAITING':>12} {'REDIS QUEUED':>12} {'SCHEDULED':>10} {'RUNNING':>8}"]
    for priority, entry in stats["by_priority"].items():
        redis = entry["redis"] or {}
        lines.append(
            f"  {priority:<9} {entry['rows_waiting']:>12} {_fmt(redis.get('queued')):>12} "
            f"{_fmt(redis.get('scheduled')):>10} {_fmt(redis.get('started')):>8}"
        )
        for name, figures in (redis.get("queues") or {}).items():
            if any(figures.values()):
                lines.append(
                    f"    {name:<16} {'':>5} {figures['queued']:>12} {figures['scheduled']:>10} {figures['started']:>8}"
                )
    if stats["by_type"]:
        lines += [
            "",
            f"  {'TASK TYPE':<24} {'WAITING':>8} {'RUNNING':>8} {'COMPLETED':>10} {'FAILED':>8} {'CANCELLED':>9}",
        ]
        for name, counts in stats["by_type"].items():
            waiting = sum(counts[s] for s in ("pending", "scheduled", "queued", "retrying"))
            lines.append(
                f"  {name:<24} {waiting:>8} {counts['processing']:>8} {counts['completed']:>10} "
                f"{counts['failed']:>8} {counts['cancelled']:>9}"
            )
    oldest = stats["oldest_waiting"]
    lines += [
        "",
        f"Waiting to start: {stats['waiting']}"
        + (f"; oldest {oldest['age_seconds']:.0f} s ({oldest['task_type']} {oldest['task_id']})" if oldest else ""),
        "Last hour: {completed} completed, {failed} failed, {cancelled} cancelled".format(**stats["last_hour"]),
        "Last day:  {completed} completed, {failed} failed, {cancelled} cancelled".format(**stats["last_day"]),
        "",
    ]
    if stats["redis_error"]:
        lines.append(f"Redis unreachable: {stats['redis_error']}")
    lines.append(f"Workers: {len(stats['workers'])}")
    for worker in stats["workers"]:
        current = (
            f"running {worker['current_task_type'] or '?'} {worker['current_task_id']}"
            if worker["current_task_id"]
            else worker["state"]
        )
        lines.append(f"  {worker['name']:<40} {current}; heartbeat {_fmt(worker['heartbeat_age_seconds'], ' s')} ago")
    return lines


def write_stats(command, *, as_json: bool, watch: float | None = None, count: int | None = None) -> None:
    """Write the stats once, or every `watch` seconds (clearing the screen) until Ctrl-C or `count` times."""
    if watch is not None and watch < 0.5:
        raise CommandError("--watch must be at least 0.5 seconds.")
    if count is not None and count < 1:
        raise CommandError("--count must be at least 1.")
    shown = 0
    try:
        while True:
            stats = selectors.queue_stats()
            if as_json:
                command.stdout.write(json.dumps(stats, default=str, indent=None if watch else 2))
            else:
                command.stdout.write((CLEAR_SCREEN if watch else "") + "\n".join(render_stats(stats)))
            command.stdout.flush()
            shown += 1
            if watch is None or (count is not None and shown >= count):
                return
            time.sleep(watch)
    except KeyboardInterrupt:
        return


def render_health(report: dict) -> list[str]:
    lines = [f"Health: {report['status'].upper()} (score {report['score']}/100) at {report['checked_at']}"]
    if not report["alerts"]:
        lines.append("No alerts.")
    for alert in report["alerts"]:
        lines.append(f"  [{alert['severity']}] {alert['code']}: {alert['message']}")
    return lines


def render_analysis(analysis: dict) -> list[str]:
    figures, trend = analysis["figures"], analysis["trend"]
    lines = [f"{analysis['task_type']}: last {analysis['hours']} h ({analysis['from']} to {analysis['to']})", ""]
    rows = [
        ("finished", "finished", ""),
        ("completed", "completed", ""),
        ("failed", "failed", ""),
        ("failure rate", "failure_rate", ""),
        ("throughput / hour", "throughput_per_hour", ""),
        ("avg duration", "duration_avg", " s"),
        ("p95 duration", "duration_p95", " s"),
    ]
    lines.append(f"  {'':<18} {'NOW':>10} {'BEFORE':>10} {'CHANGE':>9}")
    for label, key, suffix in rows:
        change = trend[key]["change_percent"]
        lines.append(
            f"  {label:<18} {_fmt(trend[key]['current'], suffix):>10} {_fmt(trend[key]['previous'], suffix):>10} "
            f"{'-' if change is None else f'{change:+.1f}%':>9}"
        )
    lines.append(
        f"  p50 {_fmt(figures['duration_p50'], ' s')}, max {_fmt(figures['duration_max'], ' s')}, "
        f"retries {figures['retries']}, throughput {_fmt(figures['throughput_per_minute'])}/min"
    )
    lines += ["", f"  {'HOUR (UTC)':<17} {'DONE':>6} {'FAILED':>6} {'AVG S':>8} {'P95 S':>8} {'DEPTH':>6}"]
    for bucket in analysis["buckets"]:
        lines.append(
            f"  {bucket['bucket_start'][:16].replace('T', ' '):<17} {bucket['completed']:>6} {bucket['failed']:>6} "
            f"{_fmt(bucket['duration_avg']):>8} {_fmt(bucket['duration_p95']):>8} {bucket['queue_depth']:>6}"
        )
    return lines


class MonitoringVerbs:
    def add_verbs(self, verbs) -> None:
        stats = verbs.add_parser("stats", help="Counts by status, queue and type; workers; recent throughput.")
        stats.add_argument("--json", action="store_true", help="One JSON document (one per line with --watch).")
        stats.add_argument("--watch", type=float, metavar="SECONDS", help="Refresh every SECONDS until Ctrl-C.")
        stats.add_argument("--count", type=int, help="With --watch: stop after this many refreshes.")

        health_verb = verbs.add_parser(
            "health", help="Health score and alerts. Exit code 0 healthy, 1 degraded, 2 critical."
        )
        health_verb.add_argument("--json", action="store_true")

        analyze = verbs.add_parser("analyze", help="One task type over a window: figures, hourly buckets, trend.")
        analyze.add_argument("task_type")
        analyze.add_argument("--hours", type=int, default=24)
        analyze.add_argument("--json", action="store_true")

    def handle_stats(self, command, options):
        write_stats(command, as_json=options["json"], watch=options.get("watch"), count=options.get("count"))

    def handle_health(self, command, options):
        report = health.queue_health()
        command.stdout.write(_dump(report) if options["json"] else "\n".join(render_health(report)))
        code = health.EXIT_CODES[report["status"]]
        if code:
            command.stdout.flush()
            sys.exit(code)

    def handle_analyze(self, command, options):
        hours, task_type = options["hours"], options["task_type"]
        if not 1 <= hours <= 24 * 90:
            raise CommandError("--hours must be between 1 and 2160 (90 days).")
        if not selectors.task_type_known(task_type):
            known = ", ".join(sorted(registry.all_types())) or "none"
            raise CommandError(f"Unknown task type '{task_type}'. Registered types: {known}.")
        analysis = selectors.type_analysis(task_type=task_type, hours=hours)
        command.stdout.write(_dump(analysis) if options["json"] else "\n".join(render_analysis(analysis)))
