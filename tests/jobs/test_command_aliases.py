"""The old `jobs_*` command names still work for a release: same options, same outcome, a deprecation line on stderr."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from queue_app.models import Task

pytestmark = pytest.mark.django_db


def test_jobs_search_alias_enqueues_like_the_verb_and_names_the_new_spelling():
    out, err = StringIO(), StringIO()
    call_command("jobs_search", "--query", "react", "--enqueue", stdout=out, stderr=err)
    task = Task.objects.get()
    assert task.task_type == "job_search" and task.payload["query"] == "react" and str(task.id) in out.getvalue()
    assert "manage.py jobs search" in err.getvalue() and "Deprecated" in err.getvalue()


def test_aliases_refuse_with_the_verbs_sentences(tmp_path):
    with pytest.raises(CommandError, match="No file"):
        call_command("jobs_import_session", "--file", str(tmp_path / "missing.json"), stderr=StringIO())
    with pytest.raises(CommandError, match="is not connected"):
        call_command("jobs_upwork_connect", "--disconnect", stderr=StringIO())
    with pytest.raises(CommandError, match="--query"):
        call_command("jobs_search", stderr=StringIO())


def test_sandbox_setup_alias_takes_no_options(settings):
    settings.UPWORK_BASE_URL = "https://www.upwork.com"
    with pytest.raises(CommandError, match="points at Upwork"):
        call_command("jobs_sandbox_setup", stderr=StringIO())
