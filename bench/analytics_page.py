"""The analytics page and API with 100,000 sent applications: p50 / p95 of each.

Usage: python bench/analytics_page.py [--applications N] [--runs N] [--reuse]

Uses its own database (BENCH_ANALYTICS_DATABASE_URL, default upwork_bench_analytics, created and migrated if
missing; its jobs, proposals and applications are emptied and reloaded unless --reuse) and never writes to Redis
beyond the API's throttle counters and the analytics_refresh tasks the calibration tab queues when stale
(BENCH_REDIS_URL, default database 14; no worker runs them). `generate()` writes the rows with bulk_create: jobs
with a score breakdown drawn like bench/outcomes_sim.py's (hidden quality, parts correlated with it), a proposal and
version each (OpenAI or template, two prompt versions), a sent application with net Connects and the outcome
events it reached over the last 90 days. Before timing it runs what the analytics_refresh task does (the rollup
brought up to date, the calibration computed and stored), as a deployment's worker would have. Each figure is
over --runs timed requests after two warm-ups, through Django's test client as a logged-in superuser: p50, p95,
and the medians of the time spent in the database driver and of the rest (Python: views, aggregation, template).
"cold cache" clears Django's cache before each request; "cold after an outcome" also saves one application of
the last 30 days first (its day is recounted, the calibration becomes stale and is queued). Prints a table.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH = 5000
KINDS_REACHED = ("viewed", "replied", "interview", "hired")


def generate(*, applications: int, seed: int = 7, now: datetime | None = None, days: int = 90) -> dict:
    """Bulk-create `applications` sent applications (with jobs, proposals, versions, events) over the last `days`.

    Returns counts. Deterministic for a seed (apart from the auto ids).
    """
    from django.utils import timezone

    from applications.models import Application, ApplicationStatus, OutcomeEvent
    from bench.outcomes_sim import make_jobs, reply_probability
    from jobs.models import Job, SearchProfile
    from jobs.scoring import DEFAULT_WEIGHTS, weighted_score
    from proposals.models import Proposal, ProposalStatus, ProposalVersion

    now = now or timezone.now()
    rng = random.Random(seed)
    profiles = [
        SearchProfile.objects.get_or_create(name=name)[0] for name in ("Bench Django", "Bench React", "Bench Data")
    ]
    drafted = make_jobs(seed=seed, jobs=applications, days=days)
    prefix = f"bench-{seed}-{int(now.timestamp())}"
    jobs, outcomes = [], []
    for index, sim in enumerate(drafted):
        submitted = now - timedelta(days=days) + timedelta(days=sim.day, seconds=rng.randrange(86400))
        hours_to_apply = (1 - sim.values["freshness"]) * 168
        posted = submitted - timedelta(hours=hours_to_apply)
        replied = sim.draw < reply_probability(sim)
        viewed = replied or rng.random() < 0.5
        interview = replied and rng.random() < 0.4
        hired = interview and rng.random() < 0.3
        outcomes.append((viewed, replied, interview, hired, submitted, sim.connects))
        fixed = rng.random() < 0.5
        jobs.append(
            Job(
                upwork_id=f"{prefix}-{index}",
                url=f"https://www.upwork.com/jobs/{prefix}-{index}",
                title=f"Bench job {index}",
                job_type="fixed" if fixed else "hourly",
                budget=Decimal(rng.choice((150, 500, 2000, 8000))) if fixed else None,
                hourly_max=None if fixed else Decimal(rng.choice((20, 40, 80, 120))),
                client_payment_verified=rng.random() < 0.85,
                client_total_spent=Decimal(round(10 ** (sim.values["client"] * 5))),
                profile=profiles[index % len(profiles)],
                status="applied",
                passed_filters=True,
                score=weighted_score(sim.values, DEFAULT_WEIGHTS),
                score_breakdown={name: {"value": round(value, 3)} for name, value in sim.values.items()},
                posted_at=posted,
                discovered_at=posted + timedelta(minutes=5),
            )
        )
    Job.objects.bulk_create(jobs, batch_size=BATCH)
    proposals = Proposal.objects.bulk_create(
        [Proposal(job=job, status=ProposalStatus.IN_REVIEW, current_version=1) for job in jobs], batch_size=BATCH
    )
    versions = []
    for proposal in proposals:
        openai = rng.random() < 0.7
        versions.append(
            ProposalVersion(
                proposal=proposal,
                number=1,
                text="Bench letter.",
                source="openai" if openai else "template",
                model=rng.choice(("gpt-4o-mini", "gpt-4o")) if openai else "",
                prompt_version=rng.choice(("prompt-1", "prompt-2")) if openai else "template-1",
                estimated_cost=Decimal("0.004200") if openai else Decimal("0"),
            )
        )
    ProposalVersion.objects.bulk_create(versions, batch_size=BATCH)
    sent = []
    for job, proposal, version, (viewed, replied, interview, hired, submitted, connects) in zip(
        jobs, proposals, versions, outcomes, strict=True
    ):
        outcome = (
            "hired"
            if hired
            else "interview"
            if interview
            else "replied"
            if replied
            else ("viewed" if viewed else "no_response")
        )
        sent.append(
            Application(
                job=job,
                proposal=proposal,
                proposal_version=version,
                status=ApplicationStatus.VERIFIED,
                connects_required=connects,
                connects_spent=connects,
                connects_refunded=connects if not viewed and rng.random() < 0.05 else 0,
                outcome=outcome,
                submitted_at=submitted,
                approved_at=submitted - timedelta(minutes=10),
            )
        )
    Application.objects.bulk_create(sent, batch_size=BATCH)
    events = []
    for application, flags in zip(sent, outcomes, strict=True):
        for kind, reached in zip(KINDS_REACHED, flags[:4], strict=True):
            if reached:
                events.append(
                    OutcomeEvent(
                        application=application,
                        kind=kind,
                        occurred_at=application.submitted_at + timedelta(hours=6),
                        source="browser",
                    )
                )
    OutcomeEvent.objects.bulk_create(events, batch_size=BATCH)
    return {"applications": len(sent), "events": len(events), "profiles": [p.id for p in profiles]}


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)


class _DatabaseTime:
    """Wall time spent inside the database driver (connection.execute_wrapper) during one request."""

    def __init__(self):
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def _touch_one_application() -> None:
    """A recorded outcome, as far as the analytics can tell: one application of the last 30 days saved now."""
    from django.utils import timezone

    from applications.models import Application

    since = timezone.now() - timedelta(days=30)
    one = Application.objects.filter(submitted_at__gte=since).order_by("?").values_list("id", flat=True).first()
    Application.objects.filter(id=one).update(updated_at=timezone.now())


def _time(client, url: str, runs: int, *, cold: str = "") -> tuple[float, float, float, float]:
    """p50 and p95 of `runs` requests after two warm-ups, and the medians of the database and Python time of
    each. cold "cache": Django's cache is cleared before each request; "outcome": and one application of the
    window is saved first (its day is recounted in the rollup, the calibration becomes stale)."""
    from django.core.cache import cache
    from django.db import connection

    for _ in range(2):
        assert client.get(url).status_code == 200, url
    samples, database = [], []
    for _ in range(runs):
        if cold == "outcome":
            _touch_one_application()
        if cold:
            cache.clear()
        timer = _DatabaseTime()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            response = client.get(url)
            if getattr(response, "streaming", False):
                b"".join(response.streaming_content)
        samples.append((time.perf_counter() - started) * 1000)
        database.append(timer.seconds * 1000)
        assert response.status_code == 200, url
    python = [total - db for total, db in zip(samples, database, strict=True)]
    samples.sort()
    p95 = samples[max(0, round(0.95 * len(samples)) - 1)]
    return statistics.median(samples), p95, statistics.median(database), statistics.median(python)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="Keep the rows of the last run.")
    args = parser.parse_args()
    url = os.environ.get("BENCH_ANALYTICS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/upwork_bench_analytics")
    os.environ.update(
        DATABASE_URL=url,
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        DJANGO_SETTINGS_MODULE="upwork_automation.settings.base",
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver,localhost",
        API_THROTTLE_READ="100000/minute",
    )
    _ensure_database(url)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from applications.models import Application

    if not args.reuse or not Application.objects.exists():
        with connection.cursor() as cursor:  # the bench database only
            cursor.execute("TRUNCATE jobs_job, proposals_proposal, applications_application CASCADE")
        started = time.perf_counter()
        made = generate(applications=args.applications)
        with connection.cursor() as cursor:  # bulk-loaded: set the visibility map (index-only scans) and statistics
            for table in ("jobs_job", "proposals_proposal", "proposals_proposalversion", "applications_application",
                          "applications_outcomeevent"):  # fmt: skip
                cursor.execute(f"VACUUM ANALYZE {table}")
        print(
            f"Generated {made['applications']:,} applications, {made['events']:,} events "
            f"in {time.perf_counter() - started:.0f} s"
        )
    user = get_user_model().objects.filter(username="bench-analytics").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench-analytics", "bench@example.com", "bench-pw")
    client = Client()
    client.force_login(user)
    count = Application.objects.count()
    print(f"{count:,} applications; {args.runs} timed requests each after 2 warm-ups; load {os.getloadavg()[0]:.1f}")
    from applications.analytics import background

    started = time.perf_counter()
    done = background.refresh()  # what the analytics_refresh task does: the rollup current, the calibration stored
    print(
        f"analytics_refresh task: {done['rollup_days_recounted']} rollup day(s) recounted, calibration "
        f"{'computed in ' + str(done['calibration_ms']) + ' ms' if done['calibration_computed'] else 'current'}; "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )
    print(f"{'request':<60} {'p50 ms':>8} {'p95 ms':>8} {'db ms':>7} {'py ms':>7}")
    few = max(3, args.runs // 6)
    for label, path, runs, cold in (
        ("baseline: business dashboard /admin/business/", "/admin/business/", args.runs, ""),
        ("admin page /admin/analytics/ (default: 30 days), cached", "/admin/analytics/", args.runs, ""),
        ("GET /api/analytics/funnel/ (30 days)", "/api/analytics/funnel/", args.runs, ""),
        ("GET /api/analytics/rates/ (30 days), cached", "/api/analytics/rates/", args.runs, ""),
        ("admin page (default: 30 days), cold cache", "/admin/analytics/", args.runs, "cache"),
        ("admin page (default: 30 days), cold after an outcome", "/admin/analytics/", args.runs, "outcome"),
        ("GET /api/analytics/rates/ (30 days), cold cache", "/api/analytics/rates/", args.runs, "cache"),
        ("GET /api/analytics/rates/ (30 days), cold after an outcome", "/api/analytics/rates/", args.runs, "outcome"),
        ("admin page, 90 days, cached", "/admin/analytics/?days=90", args.runs, ""),
        ("admin page, 90 days, cold after an outcome", "/admin/analytics/?days=90", args.runs, "outcome"),
        ("GET /api/analytics/funnel/?days=90", "/api/analytics/funnel/?days=90", args.runs, ""),
        ("GET /api/analytics/rates/?days=90, cold cache", "/api/analytics/rates/?days=90", args.runs, "cache"),
        ("admin calibration tab (180 days), cold cache", "/admin/analytics/?tab=calibration", args.runs, "cache"),
        ("admin calibration tab (180 days), after an outcome", "/admin/analytics/?tab=calibration", args.runs,
         "outcome"),
        ("GET /api/analytics/calibration/ (180 days), cold cache", "/api/analytics/calibration/", args.runs, "cache"),
        ("GET /api/analytics/export.csv?days=90", "/api/analytics/export.csv?days=90", few, ""),
    ):  # fmt: skip
        p50, p95, db, py = _time(client, path, runs, cold=cold)
        print(f"{label:<60} {p50:>8.1f} {p95:>8.1f} {db:>7.1f} {py:>7.1f}   ({runs} runs)")
    started = time.perf_counter()
    done = background.refresh()
    print(
        f"analytics_refresh task after the outcomes above: {done['rollup_days_recounted']} day(s) recounted, "
        f"calibration computed in {done['calibration_ms']} ms; {(time.perf_counter() - started) * 1000:.0f} ms"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
