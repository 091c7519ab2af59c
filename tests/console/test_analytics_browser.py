"""In Chromium: the outcomes analytics page draws its charts, shows the calibration once the background task
computed it, and a person applies then reverts a suggestion.

Screenshots at 1280 px wide are kept under TEST_ARTIFACTS_DIR (default <repo>/test-artifacts/).
"""

from __future__ import annotations

import pytest

from applications.tasks import analytics_refresh
from bench.analytics_page import generate
from core.models import AuditEntry
from jobs.models import ProfileTuning, SearchProfile
from tests.conftest import CHROMIUM_ARGS
from tests.console.test_inbox_browser import DESKTOP, PHONE, artifacts, no_sideways_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_analytics_page_draws_its_charts_and_applies_a_suggestion(
    live_server, django_user_model, chromium_executable, settings
):
    from playwright.sync_api import expect, sync_playwright

    settings.ANALYTICS_MIN_OUTCOMES = 100
    settings.ANALYTICS_CALIBRATION_DAYS = 120
    made = generate(applications=600, seed=5)
    profile = SearchProfile.objects.get(id=made["profiles"][0])
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-analytics")
    shots = artifacts()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=DESKTOP)
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "pw-boss-analytics")
        page.click("input[type=submit]")
        page.click("text=Outcomes analytics")
        page.click("#days >> text=last 365 days")
        page.wait_for_selector("#charts")
        for chart in ("chart-funnel", "chart-calibration", "chart-score-band", "chart-time-to-apply"):
            bars = page.locator(f"#{chart} svg rect.bar")
            assert bars.count() >= 3, chart
            box = bars.first.bounding_box()
            assert box and box["width"] > 0, chart  # laid out, not just in the markup
        assert page.locator("#chart-calibration svg path.interval").count() >= 3  # Wilson whiskers
        first_bar = page.locator("#chart-funnel rect.bar").first
        assert first_bar.get_attribute("data-value") == "600"  # every generated job was discovered in 365 days
        expect(page.locator("#card-submitted .value")).to_have_text("600")
        page.screenshot(path=str(shots / "analytics-desktop-overview.png"), full_page=True)

        page.click("#tabs >> text=Calibration and suggestions")  # not computed yet: queued, never fitted here
        expect(page.locator("#calibration-state")).to_have_attribute("data-state", "missing")
        analytics_refresh({"days": 120}, context=None)  # what the worker does with the queued task
        page.reload()
        expect(page.locator("#calibration-state")).to_have_attribute("data-state", "ready")
        section = page.locator(f"#profile-{profile.id}")
        expect(section).to_contain_text("Connects per reply")
        suggested = int(section.locator(".suggested-threshold").inner_text())
        page.screenshot(path=str(shots / "analytics-desktop-calibration.png"), full_page=True)
        section.locator("button[data-action=apply]").click()
        expect(page.locator(".messagelist")).to_contain_text("Applied to")
        profile.refresh_from_db()
        assert profile.handoff_min_score == suggested
        tuning = ProfileTuning.objects.get(profile=profile)
        page.locator(f"#tuning-{tuning.id} button[data-action=revert]").click()
        expect(page.locator(".messagelist")).to_contain_text("Reverted")
        profile.refresh_from_db()
        assert (profile.handoff_min_score, profile.score_weights) == (60, {})
        assert AuditEntry.objects.filter(action__startswith="searchprofile.calibration_").count() == 2

        page.set_viewport_size(PHONE)
        page.click("#tabs >> text=Funnel and rates")
        page.wait_for_selector("#charts")
        assert no_sideways_scroll(page)
        page.screenshot(path=str(shots / "analytics-phone-overview.png"), full_page=True)
        browser.close()
