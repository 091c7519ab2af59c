"""`manage.py queue` verbs: output, and CommandError sentences for bad input."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from model_bakery import baker

from queue_app.models import Task, TaskStatus

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("queue", *args, stdout=out)
    return out.getvalue()


def test_enqueue_prints_the_new_task_id():
    output = run("enqueue", "--task-type", "noop", "--data", '{"sleep_ms": 3}', "--priority", "high")
    task = Task.objects.get(id=output.strip())
    assert (task.priority, task.payload["sleep_ms"], task.source) == ("high", 3, "cli")


def test_enqueue_with_delay_and_idempotency_key():
    first = run("enqueue", "--task-type", "noop", "--delay", "120", "--idempotency-key", "k")
    second = run("enqueue", "--task-type", "noop", "--idempotency-key", "k")
    assert first == second
    assert Task.objects.get().status == TaskStatus.SCHEDULED


def test_enqueue_at_an_iso_time():
    output = run("enqueue", "--task-type", "noop", "--at", "2099-01-01T09:00:00+00:00")
    assert Task.objects.get(id=output.strip()).run_at.year == 2099


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["enqueue", "--task-type", "noop", "--data", "{bad"], "--data is not valid JSON"),
        (["enqueue", "--task-type", "noop", "--data", "[1]"], "--data must be a JSON object"),
        (["enqueue", "--task-type", "nope"], "Unknown task type 'nope'"),
        (["enqueue", "--task-type", "noop", "--data", '{"sleep_ms": "x"}'], "payload.sleep_ms"),
        (["enqueue", "--task-type", "noop", "--at", "tomorrow"], "is not an ISO 8601 time"),
        (["status", "00000000-0000-0000-0000-000000000000"], "No task with id"),
        (["cancel", "nope"], "No task with id 'nope'"),
        (["retry", "00000000-0000-0000-0000-000000000000"], "No task with id"),
        (["list", "--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_bad_input_raises_a_command_error_with_a_sentence(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        run(*args)
    assert Task.objects.count() == 0


def test_status_in_text_and_json():
    task = baker.make(Task, task_type="noop", status=TaskStatus.FAILED, error_type="E", error_message="boom")
    text = run("status", str(task.id))
    assert "failed" in text and "E: boom" in text
    assert json.loads(run("status", str(task.id), "--json"))["id"] == str(task.id)


def test_list_filters_and_json():
    baker.make(Task, task_type="noop", status=TaskStatus.COMPLETED, _quantity=2)
    baker.make(Task, task_type="cleanup_tasks", status=TaskStatus.FAILED)
    rows = json.loads(run("list", "--type", "noop", "--json"))
    assert len(rows) == 2
    text = run("list", "--status", "failed")
    assert "cleanup_tasks" in text and "noop" not in text


def test_cancel_retry_and_cleanup_verbs():
    task = baker.make(Task, task_type="noop", status=TaskStatus.QUEUED)
    assert "cancelled" in run("cancel", str(task.id))
    with pytest.raises(CommandError, match="only pending, scheduled, queued, retrying or processing"):
        run("cancel", str(task.id))
    assert "queued again" in run("retry", str(task.id))
    assert "Deleted 0" in run("cleanup", "--days", "7")


def test_a_command_error_exits_non_zero_from_the_shell():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "manage.py", "queue", "enqueue", "--task-type", "noop", "--data", "{bad"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "--data is not valid JSON" in result.stderr
