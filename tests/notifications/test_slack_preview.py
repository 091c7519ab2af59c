"""A job alert as Slack would show it: the sandbox renders the recorded Slack message as HTML, Chromium screenshots
it into TEST_ARTIFACTS_DIR (default <repo>/test-artifacts/slack-job-alert.png; docs/screenshots has a copy)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from notifications.services import notify_job_alert
from tests.conftest import CHROMIUM_ARGS
from tests.notifications.conftest import received, run_pending_sends

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def test_a_slack_job_alert_renders_with_the_job_text_shown_as_typed(
    make_channel, alert_job, receivers, chromium_executable
):
    from playwright.sync_api import expect, sync_playwright

    make_channel("slack", events=["job_alert"])
    notify_job_alert(alert_job)
    run_pending_sends()
    [message] = received(receivers)
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 720, "height": 420})
        page.goto(f"{receivers.url}/__sandbox__/notifications/{message['id']}/preview")
        text = page.locator("[data-test=slack-text]")
        expect(text).to_contain_text("86/100 · Fix <script> & Django > 5 upgrade")  # escaped, so shown as typed
        expect(text.locator("b").first).to_have_text("86/100 · Fix <script> & Django > 5 upgrade")
        expect(text.locator("a", has_text="Open on Upwork")).to_have_attribute(
            "href", "https://www.upwork.com/jobs/~01alertjob"
        )
        assert page.locator("script").count() == 0  # the job's "<script>" never became markup
        page.locator(".msg").screenshot(path=str(folder / "slack-job-alert.png"))
        browser.close()
    assert (folder / "slack-job-alert.png").stat().st_size > 1000
