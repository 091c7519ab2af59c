"""Schedules through the API, the `queue scheduled` CLI and the admin: same validation, clear errors."""

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from queue_app import scheduling
from queue_app.models import ScheduledTask, Task

pytestmark = pytest.mark.django_db


def make(name="nightly", **extra) -> ScheduledTask:
    values = {"cron_expression": "0 2 * * *", "task_type": "noop", "payload": {}, **extra}
    return scheduling.schedule_create(name=name, **values)


# --- API ------------------------------------------------------------------------


def test_api_requires_authentication():
    client = APIClient()
    assert client.get("/api/queue/scheduled").status_code in (401, 403)
    assert client.post("/api/queue/scheduled/", {}, format="json").status_code in (401, 403)


def test_get_scheduled_lists_schedules_at_the_products_path(api_client):
    make("b_second")
    make("a_first", timezone="Europe/Berlin")
    response = api_client.get("/api/queue/scheduled")
    assert response.status_code == 200
    names = [row["name"] for row in response.json()["results"]]
    assert names == ["a_first", "b_second"]
    row = response.json()["results"][0]
    assert {"cron_expression", "timezone", "next_run_at", "last_run_at", "last_task", "enabled"} <= set(row)
    assert api_client.get("/api/queue/scheduled/").json()["count"] == 2


def test_api_create_update_delete(api_client):
    response = api_client.post(
        "/api/queue/scheduled/",
        {"name": "discovery", "cron_expression": "*/30 9-16 * * 1-5", "task_type": "noop", "payload": {"sleep_ms": 1}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["next_run_at"] and body["timezone"] == "UTC"
    url = f"/api/queue/scheduled/{body['id']}/"
    response = api_client.patch(url, {"cron_expression": "0 * * * *", "priority": "high"}, format="json")
    assert response.status_code == 200
    assert (response.json()["cron_expression"], response.json()["priority"]) == ("0 * * * *", "high")
    response = api_client.put(
        url,
        {"name": "discovery2", "cron_expression": "0 8 * * *", "task_type": "noop", "enabled": False},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["enabled"], response.json()["next_run_at"]) == (
        "discovery2",
        False,
        None,
    )
    assert api_client.delete(url).status_code == 204
    assert not ScheduledTask.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"cron_expression": "61 * * * *"}, "cron_expression", "out of range or malformed"),
        ({"cron_expression": "0 9 * *"}, "cron_expression", "expected 5 fields"),
        ({"task_type": "no_such_type"}, "task_type", "Unknown task type"),
        ({"payload": {"sleep_ms": -1}}, "payload.sleep_ms", "Invalid payload"),
        ({"payload": [1, 2]}, "payload", "Invalid input"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        ({"priority": "urgent"}, "priority", "Invalid input"),
    ],
)
def test_api_refuses_bad_input_with_400_and_field_errors(api_client, changes, field, fragment):
    data = {"name": "x", "cron_expression": "0 9 * * *", "task_type": "noop", **changes}
    response = api_client.post("/api/queue/scheduled/", data, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["field_errors"]
    assert fragment in error["message"]
    assert not ScheduledTask.objects.exists()


def test_api_update_with_bad_cron_changes_nothing(api_client):
    schedule = make()
    response = api_client.patch(f"/api/queue/scheduled/{schedule.pk}/", {"cron_expression": "bad"}, format="json")
    assert response.status_code == 400
    assert "cron_expression" in response.json()["error"]["field_errors"]
    schedule.refresh_from_db()
    assert schedule.cron_expression == "0 2 * * *"


def test_api_enable_disable_and_run_actions(api_client, user):
    schedule = make()
    base = f"/api/queue/scheduled/{schedule.pk}"
    assert api_client.post(f"{base}/disable/").json()["enabled"] is False
    assert api_client.post(f"{base}/enable/").json()["next_run_at"]
    response = api_client.post(f"{base}/run/")
    assert response.status_code == 201
    task = Task.objects.get(id=response.json()["id"])
    assert (task.source, task.requested_by) == ("api", user)
    assert api_client.post("/api/queue/scheduled/999999/run/").status_code == 404


# --- CLI ------------------------------------------------------------------------


def run(*args) -> str:
    out = StringIO()
    call_command("queue", "scheduled", *args, stdout=out)
    return out.getvalue()


def test_cli_add_list_update_enable_disable_run_remove():
    output = run("add", "daily_discovery", "0 9 * * *", "noop", '{"sleep_ms": 2}', "--priority", "high",
                 "--timezone", "America/New_York", "--description", "morning run")  # fmt: skip
    assert "Schedule daily_discovery added" in output and "14:00:00 UTC" in output
    schedule = ScheduledTask.objects.get(name="daily_discovery")
    assert (schedule.payload, schedule.priority, schedule.description) == ({"sleep_ms": 2}, "high", "morning run")

    listing = run("list")
    assert "daily_discovery" in listing and "America/New_York" in listing
    rows = json.loads(run("list", "--json"))
    assert rows[0]["name"] == "daily_discovery"

    assert "updated" in run("update", "daily_discovery", "--cron", "30 9 * * 1-5", "--priority", "default")
    schedule.refresh_from_db()
    assert (schedule.cron_expression, schedule.priority) == ("30 9 * * 1-5", "")

    run("disable", "daily_discovery")
    assert ScheduledTask.objects.get().enabled is False
    run("enable", "daily_discovery")
    assert ScheduledTask.objects.get().enabled is True

    task_id = run("run", "daily_discovery").strip()
    assert Task.objects.get(id=task_id).source == "cli"

    assert "removed" in run("remove", "daily_discovery")
    assert not ScheduledTask.objects.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["add", "x", "61 * * * *", "noop", "{}"], "Invalid cron expression '61 * * * *'"),
        (["add", "x", "0 9 * *", "noop", "{}"], "expected 5 fields"),
        (["add", "x", "0 9 * * *", "noop", '{"sleep_ms": -1}'], "payload.sleep_ms"),
        (["add", "x", "0 9 * * *", "noop", "{oops"], "JSON is not valid JSON"),
        (["add", "x", "0 9 * * *", "nope", "{}"], "Unknown task type 'nope'"),
        (["add", "x", "0 9 * * *", "noop", "{}", "--timezone", "Nowhere"], "Unknown time zone 'Nowhere'"),
        (["remove", "ghost"], "No schedule named 'ghost'"),
        (["enable", "ghost"], "No schedule named 'ghost'"),
        (["run", "ghost"], "No schedule named 'ghost'"),
    ],
)
def test_cli_refuses_bad_input_with_a_command_error(args, fragment):
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert fragment in str(caught.value)
    assert not ScheduledTask.objects.exists()


def test_cli_add_refuses_a_duplicate_name():
    make("dup")
    with pytest.raises(CommandError, match="already exists"):
        run("add", "dup", "0 9 * * *", "noop", "{}")


def test_cli_defaults_creates_missing_defaults_once():
    first = run("defaults")
    assert "system_cleanup" in first
    count = ScheduledTask.objects.count()
    assert "none" in run("defaults")
    assert ScheduledTask.objects.count() == count


# --- Admin ----------------------------------------------------------------------


def admin_form(**overrides) -> dict:
    return {
        "name": "from_admin",
        "enabled": "on",
        "cron_expression": "15 7 * * *",
        "timezone": "Europe/Berlin",
        "task_type": "noop",
        "payload": '{"sleep_ms": 3}',
        "priority": "",
        "description": "",
        **overrides,
    }


def test_admin_add_goes_through_the_schedule_service(admin_client):
    response = admin_client.post(reverse("admin:queue_app_scheduledtask_add"), admin_form())
    assert response.status_code == 302
    schedule = ScheduledTask.objects.get(name="from_admin")
    assert schedule.next_run_at is not None
    local = schedule.next_run_at.astimezone(scheduling.timezone_validate("Europe/Berlin"))
    assert (local.hour, local.minute) == (7, 15)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"cron_expression": "99 * * * *"}, "out of range or malformed"),
        ({"payload": '{"sleep_ms": -4}'}, "payload.sleep_ms"),
        ({"task_type": "nope"}, "Unknown task type"),
        ({"timezone": "Nowhere/Land"}, "Unknown time zone"),
    ],
)
def test_admin_form_shows_the_services_validation_errors(admin_client, overrides, fragment):
    response = admin_client.post(reverse("admin:queue_app_scheduledtask_add"), admin_form(**overrides))
    assert response.status_code == 200
    assert fragment in response.content.decode()
    assert not ScheduledTask.objects.exists()


def test_admin_change_list_and_actions(admin_client):
    schedule = make()
    url = reverse("admin:queue_app_scheduledtask_changelist")
    page = admin_client.get(url)
    assert page.status_code == 200 and "nightly" in page.content.decode()
    admin_client.post(url, {"action": "disable_schedules", "_selected_action": [schedule.pk]})
    assert ScheduledTask.objects.get().enabled is False
    admin_client.post(url, {"action": "enable_schedules", "_selected_action": [schedule.pk]})
    assert ScheduledTask.objects.get().enabled is True
    admin_client.post(url, {"action": "run_schedules_now", "_selected_action": [schedule.pk]})
    task = Task.objects.get()
    assert task.source == "admin"
    assert ScheduledTask.objects.get().last_task_id == task.id
    change = admin_client.get(reverse("admin:queue_app_scheduledtask_change", args=[schedule.pk]))
    assert change.status_code == 200 and str(task.id)[:8] in change.content.decode()


def test_admin_edit_revalidates_and_recomputes_next_run(admin_client):
    schedule = make()
    url = reverse("admin:queue_app_scheduledtask_change", args=[schedule.pk])
    response = admin_client.post(url, admin_form(name="nightly", cron_expression="45 23 * * *", timezone="UTC"))
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.next_run_at.strftime("%H:%M") == "23:45"


def test_admin_can_disable_a_schedule_whose_task_type_vanished(admin_client):
    schedule = make()
    ScheduledTask.objects.filter(pk=schedule.pk).update(task_type="vanished_type")
    url = reverse("admin:queue_app_scheduledtask_change", args=[schedule.pk])
    form = admin_form(name="nightly", cron_expression="0 2 * * *", timezone="UTC", task_type="vanished_type")
    form.pop("enabled")  # unchecked box
    form["payload"] = "{}"
    response = admin_client.post(url, form)
    assert response.status_code == 302, re.findall(r"errorlist.*", response.content.decode())
    assert ScheduledTask.objects.get().enabled is False
