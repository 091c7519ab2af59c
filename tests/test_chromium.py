"""One module decides which Chromium the app, the tests and the commands drive (upwork_automation/chromium.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, subprocess_env
from tests.services import free_port
from upwork_automation import chromium


@pytest.fixture
def no_browser_anywhere(tmp_path, monkeypatch):
    """A machine with no Chromium: nothing on PATH, Playwright's browser folder empty, no setting."""
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "playwright-browsers"))
    monkeypatch.delenv(chromium.ENV_VAR, raising=False)
    chromium.forget()
    yield tmp_path
    chromium.forget()


def fake_browser(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_the_setting_wins_and_a_missing_file_there_is_an_error_not_a_silent_fallback(tmp_path):
    chosen = fake_browser(tmp_path, "my-chrome")
    assert chromium.find(str(chosen)) == str(chosen)

    with pytest.raises(chromium.ChromiumNotFound, match=r"JOBS_BROWSER_EXECUTABLE=/nowhere/chromium is not"):
        chromium.find("/nowhere/chromium")


def test_a_system_chromium_on_path_is_found_before_playwrights_own(no_browser_anywhere):
    system = fake_browser(no_browser_anywhere / "bin", "google-chrome")
    assert chromium.find() == str(system)


def test_with_no_browser_anywhere_the_sentence_names_what_to_install(no_browser_anywhere):
    assert chromium.find() is None
    with pytest.raises(chromium.ChromiumNotFound) as error:
        chromium.executable("")
    assert str(error.value) == chromium.INSTALL_HINT
    assert (
        "playwright install chromium" in chromium.INSTALL_HINT and "apt-get install chromium" in chromium.INSTALL_HINT
    )


def test_provision_runs_the_installers_in_order_and_takes_the_first_that_brings_a_browser(
    no_browser_anywhere, monkeypatch
):
    ran = []

    def installer(command, timeout, say):
        ran.append(command[:4] if command[0] == sys.executable else command[:2])
        if command[0] == "apt-get" and command[1] == "install":
            fake_browser(no_browser_anywhere / "bin", "chromium")  # what Debian's package puts on PATH
            return True
        return False  # Playwright's download fails (no network to its CDN here)

    monkeypatch.setattr(chromium, "_run", installer)
    monkeypatch.setattr(chromium, "_can_apt", lambda: True)

    found = chromium.provision(say=lambda line: None)

    assert found == str(no_browser_anywhere / "bin" / "chromium")
    assert ran == [[sys.executable, "-m", "playwright", "install"], ["apt-get", "install"]]


def test_make_test_stops_within_seconds_with_the_sentence_when_no_browser_can_be_had(no_browser_anywhere):
    """The real installer runs and fails (its download host does not answer); no apt on PATH: stop, don't test."""
    env = {key: value for key, value in os.environ.items() if key not in {"TEST_RUN_ID", chromium.ENV_VAR}}
    env.update(
        PATH=str(no_browser_anywhere / "bin"),
        PLAYWRIGHT_BROWSERS_PATH=str(no_browser_anywhere / "playwright-browsers"),
        PLAYWRIGHT_DOWNLOAD_HOST=f"http://127.0.0.1:{free_port()}",
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "devservices.py"), "test", "tests/test_chromium.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"[make test] ERROR: {chromium.INSTALL_HINT}"
    assert "playwright install chromium" in result.stdout  # the installer was tried first
    assert "passed" not in result.stdout and "collected" not in result.stdout  # pytest never started
    assert elapsed < 60


@pytest.mark.django_db
def test_discovery_through_the_browser_reports_the_sentence_as_its_error(no_browser_anywhere, settings):
    from jobs.errors import SourceError
    from jobs.sources.base import SearchSpec
    from jobs.sources.browser import BrowserSource

    settings.JOBS_BROWSER_EXECUTABLE = ""
    source = BrowserSource(storage_state={"cookies": [], "origins": []})

    with pytest.raises(SourceError) as error:
        source.search(SearchSpec(strategy="keyword", query="django"))
    assert str(error.value) == chromium.INSTALL_HINT


def test_submission_reports_the_sentence_as_its_error(no_browser_anywhere, settings):
    from applications.browser import ApplyBrowser, BrowserUnavailable

    settings.JOBS_BROWSER_EXECUTABLE = ""
    with pytest.raises(BrowserUnavailable) as error:
        ApplyBrowser(storage_state={"cookies": [], "origins": []})._run(lambda page: None)
    assert str(error.value) == chromium.INSTALL_HINT


@pytest.mark.django_db
def test_the_health_check_shows_the_missing_browser(no_browser_anywhere, settings, redis_conn):
    from queue_app import health

    settings.JOBS_BROWSER_EXECUTABLE = ""
    report = health.queue_health()

    assert report["checks"]["browser"] == {"available": False, "error": chromium.INSTALL_HINT}
    alert = next(alert for alert in report["alerts"] if alert["code"] == "browser_unavailable")
    assert alert["message"] == chromium.INSTALL_HINT and alert["severity"] == "warning"


def test_python_m_upwork_automation_chromium_prints_the_browser_the_tests_use(chromium_executable):
    result = subprocess.run(
        [sys.executable, "-m", "upwork_automation.chromium", "--find"],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == chromium_executable
