"""CLI: import a browser session from a file, connect the API, run a search now."""

from __future__ import annotations

import json
from io import StringIO
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.core.management import CommandError, call_command

from core.models import AuditEntry
from jobs.models import BrowserSession, Job, SearchProfile, UpworkOAuthToken
from queue_app.models import Task
from scripts.sandbox.make_state import sandbox_storage_state

pytestmark = pytest.mark.django_db


def _call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_import_session_from_a_sandbox_login_file(sandbox, tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps(sandbox_storage_state(sandbox.url)))
    output = _call("jobs", "import-session", "--file", str(path), "--name", "sandbox")
    assert "Imported browser session 'sandbox'" in output
    assert BrowserSession.objects.get(name="sandbox").cookie_domains == ["127.0.0.1"]


def test_import_session_explains_a_missing_or_bad_file(tmp_path):
    with pytest.raises(CommandError, match="No file"):
        _call("jobs", "import-session", "--file", str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"password": "x", "cookies": []}')
    with pytest.raises(CommandError, match="never a password"):
        _call("jobs", "import-session", "--file", str(bad))
    assert not BrowserSession.objects.exists()


def test_connect_prints_the_url_then_stores_tokens_from_the_code(sandbox):
    output = _call("jobs", "upwork-connect")
    url = output.strip().splitlines()[-1]
    assert url.startswith(f"{sandbox.url}/ab/account-security/oAuth2/authorize?")
    redirect = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    query = parse_qs(urlparse(redirect).query)
    code, state = query["code"][0], query["state"][0]
    assert "Connected" in _call("jobs", "upwork-connect", f"--code={code}", f"--state={state}")  # may start with '-'
    assert "run again with --code=<code> --state=<state>" in output
    with pytest.raises(CommandError, match="already used"):  # the pending authorization is used once
        _call("jobs", "upwork-connect", f"--code={code}", f"--state={state}")
    assert UpworkOAuthToken.objects.get().access_token in sandbox.state.access_tokens
    assert "Disconnected" in _call("jobs", "upwork-connect", "--disconnect")
    assert not UpworkOAuthToken.objects.exists()
    assert list(AuditEntry.objects.filter(object_type="upwork_oauth_token").values_list("action", "source")) == [
        ("upwork.disconnect", "cli"),
        ("upwork.connect", "cli"),
    ]


def test_search_now_stores_and_scores_results(sandbox, api_token):
    SearchProfile.objects.create(name="react", skills=["React"])
    output = _call("jobs", "search", "--query", "react", "--source", "api", "--profile", "react")
    result = json.loads(output)
    assert result["created"] == 3 == Job.objects.filter(score__isnull=False).count()


def test_search_without_any_search_or_connection_says_what_to_do(sandbox):
    with pytest.raises(CommandError, match="--query"):
        _call("jobs", "search")
    with pytest.raises(CommandError, match="jobs upwork-connect"):
        _call("jobs", "search", "--query", "react", "--source", "api")
    with pytest.raises(CommandError, match="jobs import-session"):
        _call("jobs", "search", "--query", "react", "--source", "browser")
    with pytest.raises(CommandError, match="No search profile 'nope'"):
        _call("jobs", "search", "--profile", "nope")


def test_search_enqueue_hands_the_search_to_the_workers():
    output = _call("jobs", "search", "--query", "react", "--enqueue")
    task = Task.objects.get()
    assert str(task.id) in output and task.task_type == "job_search" and task.payload["query"] == "react"


def test_sandbox_setup_wires_session_api_and_a_demo_profile(sandbox):
    output = _call("jobs", "sandbox-setup")
    assert "Imported browser session 'sandbox'" in output and "Connected" in output
    assert BrowserSession.objects.filter(name="sandbox", status="active").exists()
    assert UpworkOAuthToken.objects.get().access_token in sandbox.state.access_tokens
    profile = SearchProfile.objects.get(name="Sandbox demo")
    result = json.loads(_call("jobs", "search", "--profile", str(profile.id)))
    assert result["source"] == "api" and result["created"] > 0
    _call("jobs", "sandbox-setup")  # idempotent
    assert SearchProfile.objects.count() == 1


def test_sandbox_setup_refuses_the_real_upwork(settings):
    settings.UPWORK_BASE_URL = "https://www.upwork.com"
    with pytest.raises(CommandError, match="points at Upwork"):
        _call("jobs", "sandbox-setup")
