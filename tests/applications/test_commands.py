"""manage.py applications: approve, schedule, cancel and limits from the command line; refusals are sentences."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from applications.models import Application, ApplicationStatus
from core.models import AuditEntry
from queue_app.models import Task
from tests.applications.conftest import make_application

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("applications", *args, stdout=out)
    return out.getvalue()


def test_approve_schedule_and_list(sandbox):
    made = make_application(sandbox, 1, approve=False)

    assert "approved; bid 80.00" in run("approve", str(made.application.id), "--bid", "80")
    assert "scheduled" in run("schedule", str(made.application.id), "--at", "2099-01-01T09:00:00+00:00")
    listing = run("list", "--status", "scheduled")

    assert made.sandbox_job.title[:40] in listing
    assert Task.objects.get(task_type="submit_application").run_at.year == 2099
    entry = AuditEntry.objects.get(action="application.approve")
    assert entry.source == "cli"


def test_refusals_are_command_errors_with_a_sentence(sandbox):
    made = make_application(sandbox, 1, approve=False)

    with pytest.raises(CommandError, match="can be scheduled only when approved"):
        run("schedule", str(made.application.id))
    with pytest.raises(CommandError, match="ISO time with a time zone"):
        run("schedule", str(made.application.id), "--at", "tomorrow")
    with pytest.raises(CommandError, match="not an amount"):
        run("approve", str(made.application.id), "--bid", "lots")
    assert Application.objects.get(id=made.application.id).status == ApplicationStatus.AWAITING_APPROVAL


def test_cancel_and_limits(sandbox, settings):
    settings.APPLICATIONS_DAILY_CAP = 4
    made = make_application(sandbox, 1)

    run("cancel", str(made.application.id))
    limits = json.loads(run("limits"))

    assert Application.objects.get(id=made.application.id).status == ApplicationStatus.CANCELLED
    assert limits["today"]["cap"] == 4
    assert limits["settings"]["APPLICATIONS_ENABLED"] is True
