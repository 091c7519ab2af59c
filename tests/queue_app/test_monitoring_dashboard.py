"""Admin queue dashboard: staff only, linked from the admin index, charts drawn from the server's data."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from queue_app import metrics
from queue_app.models import Task
from tests.conftest import CHROMIUM_ARGS
from tests.queue_app.monitoring_factories import healthy_services

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def week_of_tasks() -> dict:
    """Seven days of finished tasks with a daily rhythm, a few failures and a backlog now; returns totals."""
    now = timezone.now()
    rows = []
    totals = {"completed_24h": 0, "failed_24h": 0}
    for hour in range(1, 7 * 24):
        moment = now - timedelta(hours=hour)
        volume = 2 + round(4 * (1 + math.sin(hour / 24 * 2 * math.pi)))
        for index in range(volume):
            failed = (hour + index) % 9 == 0
            task_type = ("job_discovery", "proposal_generation", "noop")[index % 3]
            finished_at = moment - timedelta(minutes=index)
            rows.append(
                Task(
                    task_type=task_type,
                    status="failed" if failed else "completed",
                    attempts=2 if failed else 1,
                    enqueued_at=finished_at - timedelta(minutes=volume * 4),  # busy hours wait longer
                    started_at=finished_at - timedelta(seconds=2 + index),
                    finished_at=finished_at,
                    duration=2.0 + index,
                    worker_name=f"worker-{index % 2}",
                )
            )
            if hour < 24:
                totals["failed_24h" if failed else "completed_24h"] += 1
    for index in range(12):
        rows.append(Task(task_type="noop", status="queued", enqueued_at=now - timedelta(minutes=index * 3)))
    Task.objects.bulk_create(rows)
    Task.objects.update(created_at=timezone.now() - timedelta(days=8))
    metrics.metric_snapshots_calculate()
    return totals


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user(username="staff", password="pw-staff", is_staff=True)
    client.force_login(user)
    return client


def test_dashboard_requires_staff(client, django_user_model):
    response = client.get("/admin/queue/dashboard/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]

    client.force_login(django_user_model.objects.create_user(username="plain", password="pw-plain"))
    response = client.get("/admin/queue/dashboard/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_index_links_to_the_dashboard(staff_client):
    response = staff_client.get("/admin/")

    assert response.status_code == 200
    assert b'href="/admin/queue/dashboard/"' in response.content
    assert b"Queue dashboard" in response.content


def test_dashboard_charts_carry_the_hourly_figures(staff_client, redis_conn):
    healthy_services(redis_conn)
    totals = week_of_tasks()

    response = staff_client.get("/admin/queue/dashboard/")

    assert response.status_code == 200
    html = response.content.decode()
    charts = response.context["charts"]
    assert len(charts["24h"]) == 3 and len(charts["7d"]) == 3
    throughput_24h = str(charts["24h"][0])
    completed = sum(
        float(part.split('"')[0]) for part in throughput_24h.split('data-series="completed" data-value="')[1:]
    )
    since = metrics.floor_hour(timezone.now()) - timedelta(hours=23)  # the chart's first hour
    assert completed == Task.objects.filter(status="completed", finished_at__gte=since).count()
    failures_24h = str(charts["24h"][1])
    assert f'data-total="{Task.objects.filter(status="failed", finished_at__gte=since).count()}"' in failures_24h
    assert totals["failed_24h"] > 0
    assert 'id="depth-7d"' in html
    assert 'class="qd-badge healthy"' in html
    assert 'id="card-waiting"' in html


def test_dashboard_lists_workers_with_host_pid_families_and_usage(staff_client, redis_conn):
    from queue_app.models import WorkerProcess

    now = timezone.now()
    Task.objects.create(
        task_type="noop", status="completed", worker_name="w-host-a", started_at=now, finished_at=now, duration=0.1
    )
    WorkerProcess.objects.create(
        name="w-host-a",
        host="host-a",
        pid=4242,
        queues=["discovery.high", "system.high"],
        started_at=now - timedelta(minutes=5),
        last_heartbeat=now,
        rss_bytes=64 * 1024 * 1024,
        cpu_seconds=3.5,
    )
    page = staff_client.get("/admin/queue/dashboard/").content.decode()
    row = page.split('id="workers"')[1].split("</table>")[0]
    assert "host-a / 4242" in row
    assert "discovery, system" in row
    assert ">64.0<" in row and ">3.5<" in row


def test_dashboard_filters_the_charts_by_task_type(staff_client):
    week_of_tasks()

    everything = staff_client.get("/admin/queue/dashboard/").context["charts"]["7d"][0]
    one_type = staff_client.get("/admin/queue/dashboard/?task_type=noop").context["charts"]["7d"][0]

    total = float(str(everything).split('data-total="')[1].split('"')[0])
    noop = float(str(one_type).split('data-total="')[1].split('"')[0])
    assert 0 < noop < total


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_in_chromium_draws_charts_and_figures(
    live_server, django_user_model, redis_conn, chromium_executable
):
    from playwright.sync_api import sync_playwright

    healthy_services(redis_conn)
    totals = week_of_tasks()
    django_user_model.objects.create_user(username="staff", password="pw-staff-browser", is_staff=True)
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "staff")
        page.fill("#id_password", "pw-staff-browser")
        page.click("input[type=submit]")
        page.click("text=Queue dashboard")
        page.wait_for_selector("#queue-dashboard")

        assert page.locator("#health .qd-badge").inner_text().lower() == "healthy"
        assert page.locator("#card-completed-day .value").inner_text() == str(totals["completed_24h"])
        assert page.locator("#card-failed-day .value").inner_text() == str(totals["failed_24h"])
        assert page.locator("#card-waiting .value").inner_text() == "12"
        for chart_id in ("throughput-24h", "failures-24h", "depth-24h", "throughput-7d", "failures-7d", "depth-7d"):
            chart = page.locator(f"#{chart_id} svg")
            box = chart.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 50, chart_id
        bars = page.locator("#throughput-24h rect.bar")
        assert bars.count() > 24
        heights = [float(h) for h in bars.evaluate_all("els => els.map(e => e.getBBox().height)")]
        assert max(heights) > 10
        assert page.locator("#depth-7d circle.point").count() == 168
        assert page.locator("#type-performance tbody tr").count() == 3

        page.screenshot(path=str(ARTIFACTS / "queue-dashboard.png"), full_page=True)
        browser.close()
