"""Imported browser sessions: validation, encryption at rest, expiry, reactivation, and cleanup of strays."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.errors import InvalidTransition, ValidationFailed
from jobs import services, tasks
from jobs.models import BrowserSession, BrowserSessionStatus
from jobs.sources.browser import browser_marker
from queue_app.registry import TaskContext
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db


def _state(expires: float = -1) -> dict:
    return {"cookies": [{"name": "sid", "value": "COOKIE-VALUE", "domain": ".upwork.com", "expires": expires}]}


def test_cookies_are_encrypted_at_rest():
    session = services.browser_session_import(name="s", storage_state=_state())
    with connection.cursor() as cursor:
        cursor.execute("SELECT storage_state FROM jobs_browsersession WHERE id = %s", [session.id])
        (stored,) = cursor.fetchone()
    assert "COOKIE-VALUE" not in stored
    assert BrowserSession.objects.get().storage_state_dict()["cookies"][0]["value"] == "COOKIE-VALUE"
    assert session.cookie_domains == ["upwork.com"]


def test_expiry_comes_from_the_cookies():
    expires = (timezone.now() + timedelta(days=3)).timestamp()
    session = services.browser_session_import(name="s", storage_state=json.dumps(_state(expires)))
    assert abs((session.expires_at - timezone.now()) - timedelta(days=3)) < timedelta(minutes=1)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        {"origins": []},
        {"cookies": [{"value": "x"}]},
        _state(expires=(timezone.now() - timedelta(days=1)).timestamp()),
    ],
)
def test_bad_or_expired_states_are_refused(raw):
    with pytest.raises(ValidationFailed):
        services.browser_session_import(name="s", storage_state=raw)
    assert not BrowserSession.objects.exists()


def test_same_name_needs_replace_and_replacing_reactivates():
    session = services.browser_session_import(name="s", storage_state=_state())
    services.browser_session_mark_attention(session_id=session.id, reason="captcha", message="CAPTCHA")
    with pytest.raises(ValidationFailed):
        services.browser_session_import(name="s", storage_state=_state())
    replaced = services.browser_session_import(name="s", storage_state=_state(), replace=True)
    assert replaced.id == session.id and replaced.status == BrowserSessionStatus.ACTIVE
    assert replaced.attention_reason == ""


def test_reactivate_refuses_an_expired_session():
    session = services.browser_session_import(name="s", storage_state=_state())
    BrowserSession.objects.filter(id=session.id).update(
        status=BrowserSessionStatus.NEEDS_ATTENTION, expires_at=timezone.now() - timedelta(minutes=1)
    )
    with pytest.raises(InvalidTransition):
        services.browser_session_reactivate(session_id=session.id)


def test_cleanup_expires_purges_and_stops_stray_browsers():
    live = services.browser_session_import(name="live", storage_state=_state())
    stale = services.browser_session_import(name="stale", storage_state=_state())
    ancient = services.browser_session_import(name="ancient", storage_state=_state())
    BrowserSession.objects.filter(id=stale.id).update(expires_at=timezone.now() - timedelta(hours=1))
    BrowserSession.objects.filter(id=ancient.id).update(
        status=BrowserSessionStatus.EXPIRED, expires_at=timezone.now() - timedelta(days=90)
    )
    # A stand-in for a Chromium left behind by a killed task: any process carrying our marker switch.
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", browser_marker()])
    try:
        context = TaskContext(task_id="t", task_type="cleanup_browser_sessions", attempt=1, max_retries=0)
        result = tasks.cleanup_browser_sessions({"purge_days": 30, "browser_max_age": 0}, context)
        wait_for(lambda: stray.poll() is not None, timeout=10, message="stray process stopped")
    finally:
        if stray.poll() is None:
            stray.kill()
        stray.wait()
    assert result == {"expired": 1, "purged": 1, "browsers_stopped": 1}
    stale.refresh_from_db()
    assert stale.status == BrowserSessionStatus.EXPIRED and stale.storage_state == ""
    assert BrowserSession.objects.filter(id=live.id, status=BrowserSessionStatus.ACTIVE).exists()
    assert not BrowserSession.objects.filter(id=ancient.id).exists()


def test_cleanup_leaves_young_browsers_running():
    young = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", browser_marker()])
    try:
        result = services.browser_sessions_cleanup(browser_max_age=3600)
        assert result["browsers_stopped"] == 0
        assert young.poll() is None
    finally:
        young.kill()
        young.wait()


def test_cleanup_leaves_another_installations_browsers_alone():
    """`make run` beside `make test`, or two test runs: each stops only the browsers its own database started."""
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "--upwork-automation-browser=0123456789ab"]
    )
    try:
        result = services.browser_sessions_cleanup(browser_max_age=0)
        assert result["browsers_stopped"] == 0
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
