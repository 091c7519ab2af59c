"""queue_app knows no product: it runs on its own, imports no domain app, and collects what the apps declare."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from queue_app import health, registry, scheduling
from tests.conftest import ROOT, ProcessGroup, subprocess_env

DOMAIN_APPS = {"jobs", "proposals", "applications"}

# What the queue reports about itself when installed without the product.
QUEUE_ONLY_REPORT = """
import json
from django.apps import apps
from queue_app import health, registry, scheduling, services

task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 10})
print(json.dumps({
    "task_id": str(task.id),
    "apps": sorted(config.name for config in apps.get_app_configs()),
    "families": list(registry.families()),
    "types": {name: task_type.family for name, task_type in registry.all_types().items()},
    "default_schedules": [default.name for default in scheduling.default_schedules()],
    "health_checks": sorted(health.queue_health()["checks"]),
}))
"""


@pytest.fixture
def queue_only_database(settings):
    """A database of this run's own for the queue without the product, dropped at the end."""
    server = subprocess_env()["DATABASE_URL"].rsplit("/", 1)[0]
    name = f"queue_only_{settings.TEST_RUN_ID}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict, *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_queue_runs_a_task_end_to_end_without_any_domain_app(tmp_path, queue_only_database):
    env = subprocess_env(DJANGO_SETTINGS_MODULE="tests.settings_queue_only", DATABASE_URL=queue_only_database)
    manage(env, "migrate", "--noinput")
    report = json.loads(manage(env, "shell", "-c", QUEUE_ONLY_REPORT).strip().splitlines()[-1])

    assert not DOMAIN_APPS & set(report["apps"]) and "queue_app" in report["apps"]
    assert report["families"] == ["system"]
    assert set(report["types"]) == {"noop", "cleanup_tasks", "calculate_metrics"}
    assert set(report["types"].values()) == {"system"}
    assert report["default_schedules"] == ["system_cleanup", "metrics_calculation", "metrics_snapshots"]
    assert "browser" not in report["health_checks"] and "applications_needing_attention" not in report["health_checks"]

    group = ProcessGroup(tmp_path)
    try:
        worker = group.start("rqworker", "critical", "high", "normal", "low", "--burst", env=env, name="worker")
        assert worker.wait(timeout=120) == 0, group.output(worker)[-3000:]
    finally:
        group.stop_all()
    with psycopg.connect(queue_only_database) as conn:
        (status,) = conn.execute("SELECT status FROM queue_app_task WHERE id = %s", [report["task_id"]]).fetchone()
    assert status == "completed", group.output(worker)[-3000:]


def domain_imports(path: Path) -> list[str]:
    """Imports of a domain app anywhere in the module, function-level (lazy) ones and import_module included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            modules = [str(node.args[0].value)]
        else:
            continue
        found += [f"{path}:{node.lineno} {module}" for module in modules if module.split(".")[0] in DOMAIN_APPS]
    return found


def test_queue_app_imports_no_domain_app():
    modules = sorted((ROOT / "queue_app").rglob("*.py"))
    assert len(modules) > 20
    assert [line for path in modules for line in domain_imports(path)] == []


def test_the_import_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "import os\nfrom queue_app import registry\n"
        "def f():\n    from applications.selectors import x\n    import jobs.models\n"
        "    importlib.import_module('proposals.tasks')\n"
    )
    found = sorted(line.split(" ", 1)[1] for line in domain_imports(module))
    assert found == ["applications.selectors", "jobs.models", "proposals.tasks"]


# --- What the domain apps declare, seen by the queue after startup ----------------------------------------


def _product_families() -> dict:
    """The families the apps declare; test modules register their own ("test_..."), on import, in every process."""
    return {name: family for name, family in registry.families().items() if not name.startswith("test_")}


def test_the_domain_apps_declare_their_families_and_limits_from_settings(settings):
    assert _product_families() == {
        "system": registry.Family("system", registry.Limits(), "Queue upkeep: cleanup, metrics, probes."),
        "discovery": registry.Family(
            "discovery",
            registry.Limits(per_host_concurrency=settings.DISCOVERY_PER_HOST_CONCURRENCY),
            "Job search with a browser: one Chromium per task, so few per host.",
        ),
        "watch": registry.Family(
            "watch",
            registry.Limits(),
            "Speed to lead: polls of the official API and the fast path of new postings.",
        ),
        "proposals": registry.Family(
            "proposals",
            registry.Limits(rate=settings.OPENAI_RATE_LIMIT),
            "OpenAI drafting: rate-limited and paid per token.",
        ),
        "applications": registry.Family(
            "applications",
            registry.Limits(concurrency=settings.APPLICATIONS_CONCURRENCY),
            "Submissions spend Connects: one at a time across all hosts.",
        ),
        "notifications": registry.Family(
            "notifications",
            registry.Limits(rate="30/s"),
            "Outgoing messages to Slack, Telegram, email and webhooks.",
        ),
    }
    assert list(_product_families()) == [
        "system",
        "discovery",
        "watch",
        "proposals",
        "applications",
        "notifications",
    ]
    assert settings.APPLICATIONS_CONCURRENCY == 1


def test_the_domain_apps_declare_their_task_types_in_their_families():
    families = {
        name: task_type.family
        for name, task_type in registry.all_types().items()
        if not task_type.handler.__module__.startswith("tests.")  # types some tests register
    }
    assert families == {
        "noop": "system",
        "cleanup_tasks": "system",
        "calculate_metrics": "system",
        "noop_discovery": "discovery",
        "job_discovery": "discovery",
        "job_search": "discovery",
        "job_filtering": "discovery",
        "cleanup_browser_sessions": "system",
        "watch_tick": "watch",
        "watch_poll": "watch",
        "watch_fast_path": "watch",
        "watch_draft": "watch",
        "noop_proposals": "proposals",
        "generate_proposal": "proposals",
        "batch_generate_proposals": "proposals",
        "update_proposal": "proposals",
        "export_proposal": "system",
        "noop_applications": "applications",
        "submit_application": "applications",
        "batch_submit_applications": "applications",
        "verify_submission": "applications",
        "track_outcomes": "applications",
        "analytics_refresh": "system",
        "send_notification": "notifications",
        "notifications_health_watch": "notifications",
        "notifications_daily_digest": "notifications",
    }
    probe = registry.get("noop_applications")
    assert (probe.handler, probe.payload_serializer, probe.timeout) == (
        registry.get("noop").handler,
        registry.get("noop").payload_serializer,
        300,
    )


def test_the_default_schedules_are_the_queues_and_the_domain_apps():
    assert {(d.name, d.task_type, d.cron_expression, d.business_hours) for d in scheduling.default_schedules()} == {
        ("system_cleanup", "cleanup_tasks", "0 2 * * *", False),
        ("metrics_calculation", "calculate_metrics", "0 6 * * 1", False),
        ("metrics_snapshots", "calculate_metrics", "5 * * * *", False),
        ("job_discovery", "job_discovery", "*/30 9-16 * * 1-5", True),
        ("browser_session_cleanup", "cleanup_browser_sessions", "0 */4 * * *", False),
        ("watch_tick", "watch_tick", "* * * * *", False),
        ("proposal_generation", "batch_generate_proposals", "0 * * * *", False),
        ("application_submission", "batch_submit_applications", "0 */2 * * *", False),
        ("outcome_tracking", "track_outcomes", "30 9-16/2 * * 1-5", True),
        ("analytics_refresh", "analytics_refresh", "15 3 * * *", False),
        ("notifications_health_watch", "notifications_health_watch", "* * * * *", False),
        ("notifications_daily_digest", "notifications_daily_digest", "0 8 * * *", False),
    }


@pytest.mark.django_db
def test_the_domain_apps_health_checks_run_in_the_queues_report():
    from applications.health import applications_alerts
    from jobs.health import browser_alerts

    assert health.PENALTIES["applications_need_attention"] == health.PENALTIES["browser_unavailable"] == 10
    assert health._checks == {browser_alerts: False, applications_alerts: True}
    report = health.queue_health()
    assert report["checks"]["applications_needing_attention"] == 0
    assert "available" in report["checks"]["browser"]
