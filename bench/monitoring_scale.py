"""Monitoring at scale: stats, health and the admin task list with 1,000,000 task rows.

Usage: python bench/monitoring_scale.py [--rows N] [--days D] [--runs N] [--reuse]

Uses its own database (BENCH_MONITOR_DATABASE_URL, default upwork_bench, created if missing;
its task and snapshot tables are emptied and reloaded) and only reads Redis (BENCH_REDIS_URL,
default database 14; nothing is written or flushed). Rows are generated inside PostgreSQL with
INSERT ... SELECT generate_series, spread over the last D days: 97 % completed, 2 % failed,
1 % cancelled, plus a few hundred waiting and running rows. calculate_metrics then stores the
hourly snapshots, as the hourly schedule would have. Each figure is the median of --runs timed
calls after one warm-up. Prints a table.
"""

from __future__ import annotations

import argparse
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
BENCH_DB = os.environ.get("BENCH_MONITOR_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/upwork_bench")
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.update(
    DATABASE_URL=BENCH_DB,
    REDIS_URL=BENCH_REDIS,
    DJANGO_SETTINGS_MODULE="upwork_automation.settings.base",
    LOG_LEVEL="WARNING",
    ALLOWED_HOSTS="testserver,localhost",
)

TYPES = ["job_discovery", "proposal_generation", "application_submission", "cleanup_tasks", "calculate_metrics", "noop"]


def ensure_database() -> None:
    import psycopg

    name = BENCH_DB.rsplit("/", 1)[1]
    admin_url = BENCH_DB.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)


def _column_defaults(explicit: set[str]) -> tuple[list[str], list[str], list]:
    """Columns added to Task by others get their model default, so the loader keeps working."""
    from django.db import connection

    from queue_app.models import Task

    columns, placeholders, params = [], [], []
    for field in Task._meta.concrete_fields:
        if field.column in explicit:
            continue
        columns.append(field.column)
        placeholders.append("%s")
        value = field.get_default() if field.has_default() else None
        params.append(field.get_db_prep_save(value, connection=connection) if value is not None else None)
    return columns, placeholders, params


def load_rows(rows: int, days: int) -> float:
    """Empty the tables and insert `rows` finished rows plus a few hundred unfinished ones."""
    from django.db import connection

    from queue_app.models import MetricSnapshot, Task

    table = Task._meta.db_table
    types_sql = "ARRAY[" + ", ".join(f"'{name}'" for name in TYPES) + "]"
    finished = {
        "id": "gen_random_uuid()",
        "task_type": f"({types_sql})[1 + mod(i, {len(TYPES)})]",
        "payload": "'{}'::jsonb",
        "priority": "(ARRAY['critical', 'high', 'normal', 'low'])[1 + mod(i, 4)]",
        "status": "CASE WHEN r < 0.97 THEN 'completed' WHEN r < 0.99 THEN 'failed' ELSE 'cancelled' END",
        "attempts": "CASE WHEN r < 0.95 THEN 1 WHEN r < 0.99 THEN 2 ELSE 4 END",
        "max_retries": "3",
        "timeout": "3600",
        "created_at": "t - interval '2 seconds'",
        "enqueued_at": "t - interval '2 seconds'",
        "started_at": "t - interval '1 second'",
        "finished_at": "t + make_interval(secs => d)",
        "duration": "d",
        "worker_name": "'bench-worker-' || mod(i, 3)",
        "error_type": "CASE WHEN r >= 0.97 AND r < 0.99 THEN 'RuntimeError' ELSE '' END",
        "source": "'scheduler'",
    }
    extra_columns, extra_values, extra_params = _column_defaults(set(finished))
    columns = [*finished, *extra_columns]
    values = [*finished.values(), *extra_values]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}, {MetricSnapshot._meta.db_table} CASCADE")  # the bench database only
        cursor.execute(
            f"""
            INSERT INTO {table} ({", ".join(columns)})
            SELECT {", ".join(values)}
              FROM (SELECT i, random() AS r, round((random() ^ 3 * 120)::numeric, 3)::float AS d,
                           now() - interval '5 minutes' - random() * interval '{int(days)} days' AS t
                      FROM generate_series(1, %s) AS i) AS source
             ORDER BY t  -- a real queue appends rows in time order; so does the table's physical order
            """,  # noqa: S608 (generated SQL, no outside input)
            [*extra_params, rows],
        )
        # The live part of the queue: queued, running, retrying, scheduled for later.
        unfinished = dict(finished)
        unfinished.update(
            {
                "status": "(ARRAY['queued', 'queued', 'queued', 'processing', 'retrying', 'scheduled'])[1 + mod(i, 6)]",
                "attempts": "CASE WHEN mod(i, 6) IN (3, 4) THEN 1 ELSE 0 END",
                "created_at": "now() - mod(i, 600) * interval '1 second'",
                "enqueued_at": "now() - mod(i, 600) * interval '1 second'",
                "started_at": "CASE WHEN mod(i, 6) = 3 THEN now() - interval '1 second' END",
                "finished_at": "NULL",
                "duration": "NULL",
                "run_at": "CASE WHEN mod(i, 6) IN (4, 5) THEN now() + interval '10 minutes' END",
                "error_type": "''",
            }
        )
        extra_columns, extra_values, extra_params = _column_defaults(set(unfinished))
        cursor.execute(
            f"""
            INSERT INTO {table} ({", ".join([*unfinished, *extra_columns])})
            SELECT {", ".join([*unfinished.values(), *extra_values])}
              FROM (SELECT i, 0.5 AS r, 0.0 AS d, now() AS t FROM generate_series(1, 600) AS i) AS source
            """,  # noqa: S608 (generated SQL, no outside input)
            extra_params,
        )
    with connection.cursor() as cursor:
        # VACUUM sets the visibility map, so the counts can be index-only (autovacuum would, later).
        connection.ensure_connection()
        old_autocommit = connection.get_autocommit()
        connection.set_autocommit(True)
        cursor.execute(f"VACUUM ANALYZE {table}")
        connection.set_autocommit(old_autocommit)
    return time.perf_counter() - started


def timed(function, runs: int) -> tuple[float, float, float, float]:
    """Median, min and max wall time, and the median CPU time of this process (ms): on a busy machine the
    wall time includes waiting for a core, the CPU time does not (PostgreSQL's own work is outside it).
    """
    function()  # warm-up: connections, template loading
    samples, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        function()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(samples), min(samples), max(samples), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30, help="Spread the finished rows over this many days.")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="Keep the rows already loaded.")
    args = parser.parse_args()

    ensure_database()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from queue_app import health, metrics, selectors
    from queue_app.models import Task

    load_seconds = None if args.reuse and Task.objects.exists() else load_rows(args.rows, args.days)
    total = Task.objects.count()  # once, for the report
    started = time.perf_counter()
    metrics.metric_snapshots_calculate(hours=24 * (args.days + 1))
    snapshot_seconds = time.perf_counter() - started

    user_model = get_user_model()
    admin_user = user_model.objects.filter(username="bench-admin").first() or user_model.objects.create_superuser(
        "bench-admin", "bench@example.com", "bench-admin-password"
    )
    client = Client()
    client.force_login(admin_user)

    def admin_list(query: str = ""):
        response = client.get("/admin/queue_app/task/" + query)
        assert response.status_code == 200, response.status_code

    def dashboard():
        response = client.get("/admin/queue/dashboard/")
        assert response.status_code == 200, response.status_code

    def prometheus():
        response = client.get("/api/queue/metrics/prometheus")
        assert response.status_code == 200, response.status_code

    cases = [
        ("queue stats (selectors.queue_stats)", selectors.queue_stats, True),
        ("health (health.queue_health)", health.queue_health, True),
        ("admin task list, first page", admin_list, True),
        ("admin task list, status=failed", lambda: admin_list("?status__exact=failed"), False),
        ("admin task list, type filter", lambda: admin_list("?task_type=noop"), False),
        ("GET /api/queue/stats", lambda: client.get("/api/queue/stats"), False),
        ("GET /api/queue/metrics/health", lambda: client.get("/api/queue/metrics/health"), False),
        ("admin queue dashboard", dashboard, False),
        ("Prometheus scrape", prometheus, False),
    ]
    print()
    print(
        f"Monitoring at scale — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}"
    )
    print(
        f"Task rows: {total:,} over {args.days} days"
        + (f" (loaded in {load_seconds:.1f} s)" if load_seconds else " (reused)")
        + f"; calculate_metrics over {args.days + 1} days: {snapshot_seconds:.1f} s"
    )
    print()
    print("Load average before timing (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"{'what':<40} {'median ms':>10} {'min':>8} {'max':>8} {'cpu ms':>7}  target")
    failed = False
    for label, function, required in cases:
        median, low, high, cpu = timed(function, args.runs)
        verdict = ("ok" if median < 200 else "OVER") if required else ""
        failed |= required and median >= 200
        target = "< 200 ms " + verdict if required else ""
        print(f"{label:<40} {median:>10.1f} {low:>8.1f} {high:>8.1f} {cpu:>7.1f}  {target}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
