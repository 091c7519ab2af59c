"""In Chromium: a person works a job from the review inbox to an application submitted in the sandbox.

Real parts: Chromium drives the admin, a real worker process drafts through the OpenAI client against the
stand-in and submits through the sandbox marketplace. Screenshots at 1280 and 390 px wide are kept under
TEST_ARTIFACTS_DIR (default <repo>/test-artifacts/).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from model_bakery import baker

from applications.models import Application, ApplicationStatus
from core.models import AuditEntry
from jobs.models import Job
from proposals.models import Proposal, ProposalStatus
from tests.applications.conftest import submissions
from tests.applications.conftest import worker_env as sandbox_env
from tests.conftest import CHROMIUM_ARGS, wait_for
from tests.proposals.conftest import worker_env as openai_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ANSWER_EXPERIENCE = "I built two logistics dashboards on Django REST Framework in 2024."
ANSWER_AVAILABILITY = "Thirty hours a week, starting Monday."


def artifacts() -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sandbox_job_row(sandbox, index: int) -> Job:
    found = sandbox.state.jobs[index]
    return baker.make(
        Job,
        upwork_id=found.ciphertext,
        url=f"{sandbox.url}/jobs/{found.ciphertext}",
        title=found.title,
        description="We need a Django REST API for our logistics dashboard.",
        job_type=found.job_type,
        hourly_min=found.hourly_min,
        hourly_max=found.hourly_max,
        budget=found.budget,
        connects_required=found.connects_required,
        screening_questions=list(found.screening_questions),
        skills=["Django", "PostgreSQL"],
        client_country="Netherlands",
        status="new",
        score=88,
        passed_filters=True,
    )


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_job_goes_from_the_inbox_to_a_submitted_application(
    processes,
    live_server,
    sandbox,
    media_root,
    browser_session,
    openai_stub,
    profile,
    django_user_model,
    chromium_executable,
):
    from playwright.sync_api import expect, sync_playwright

    job = sandbox_job_row(sandbox, 0)
    questions = job.screening_questions
    assert len(questions) == 2  # the sandbox's job 0 asks two screening questions
    openai_stub.state.text = (
        "Hi, I have built Django REST APIs for two logistics companies.\n"
        "I would start with a short call and a written plan.\n\nBest regards,\nAda Lovelace\n\n"
        f"Screening answers:\nQ: {questions[0]}\nA: {ANSWER_EXPERIENCE}\nQ: {questions[1]}\nA: {ANSWER_AVAILABILITY}"
    )
    processes.worker(**sandbox_env(sandbox, media_root), **openai_env(openai_stub))
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-browser")
    shots = artifacts()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=DESKTOP)
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "pw-boss-browser")
        page.click("input[type=submit]")
        page.click("text=Review inbox")
        page.wait_for_selector("#inbox")
        item = page.locator(f"#job-{job.id}")
        expect(item).to_contain_text(job.title)
        page.screenshot(path=str(shots / "inbox-desktop-new-job.png"), full_page=True)

        item.locator("button[data-action=generate_proposal]").click()
        expect(page.locator(".messagelist")).to_contain_text("Drafting a proposal")
        wait_for(
            lambda: Proposal.objects.filter(job=job, current_version__gt=0).exists(),
            timeout=60,
            message="the worker drafted the proposal",
        )
        proposal = Proposal.objects.get(job=job)
        assert proposal.screening_questions == questions

        page.reload()
        draft = page.locator(f"#proposal-{proposal.id}")
        expect(draft).to_contain_text("2 screening questions")
        expect(draft).to_contain_text("Hi, I have built Django REST APIs")
        page.screenshot(path=str(shots / "inbox-desktop-draft.png"), full_page=True)
        # The review page reads on a phone too: nothing wider than the screen.
        page.set_viewport_size(PHONE)
        draft.locator("a", has_text="Read and edit").click()
        page.wait_for_selector("#proposal_form")
        assert no_sideways_scroll(page)
        page.screenshot(path=str(shots / "review-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP)
        page.go_back()
        draft.locator("button[data-action=approve_proposal]").click()
        expect(page.locator(".messagelist")).to_contain_text(f"Proposal #{proposal.id} approved.")

        page.locator(f"#approved-{proposal.id} button[data-action=create_application]").click()
        expect(page.locator(".messagelist")).to_contain_text("created (awaiting approval)")
        application = Application.objects.get(proposal=proposal)

        awaiting = page.locator(f"#application-{application.id}")
        expect(awaiting.locator("input[name=bid_amount]")).to_have_value("85.00")  # the profile's rate
        page.set_viewport_size(PHONE)
        assert no_sideways_scroll(page)
        page.screenshot(path=str(shots / "inbox-phone-application.png"), full_page=True)
        page.set_viewport_size(DESKTOP)
        awaiting.locator("input[name=bid_amount]").fill("80")
        awaiting.locator("button[data-action=approve_application]").click()
        expect(page.locator(".messagelist")).to_contain_text(f"Application #{application.id} approved")

        page.locator(f"#ready-{application.id} button[data-action=send_application]").click()
        expect(page.locator(".messagelist")).to_contain_text("scheduled now")
        wait_for(
            lambda: Application.objects.filter(id=application.id, status=ApplicationStatus.SUBMITTED).exists(),
            timeout=90,
            message="the worker submitted the application in the sandbox",
        )

        # The jobs list fits 1280 px: long titles are cut to one line, every column shows without scrolling.
        baker.make(
            Job,
            title="Senior Django and PostgreSQL engineer to rebuild the reporting pipeline of a logistics platform",
            client_country="United States",
            posted_at=job.discovered_at,
            job_type="hourly",
            hourly_min=40,
            hourly_max=90,
            score=70,
        )
        page.goto(f"{live_server.url}/admin/jobs/job/")
        results = page.locator("#changelist .results")
        assert results.evaluate("el => el.scrollWidth <= el.clientWidth"), "the jobs list scrolls sideways at 1280 px"
        row_heights = page.locator("#result_list tbody tr").evaluate_all("rows => rows.map(r => r.offsetHeight)")
        assert max(row_heights) < 45, row_heights  # one line per row
        page.screenshot(path=str(shots / "jobs-list-desktop.png"))

        page.goto(f"{live_server.url}/admin/business/")
        expect(page.locator("#row-sent .today")).to_have_text("1")
        expect(page.locator("#row-connects_spent .today")).to_have_text("4")
        page.screenshot(path=str(shots / "business-desktop.png"), full_page=True)
        page.set_viewport_size(PHONE)
        assert no_sideways_scroll(page)
        page.screenshot(path=str(shots / "business-phone.png"), full_page=True)

        page.goto(f"{live_server.url}/admin/")
        page.screenshot(path=str(shots / "index-phone.png"), full_page=True)
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
            ".slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + e.getBoundingClientRect().right)"
        )
        assert no_sideways_scroll(page), wide
        link = page.locator("#console-links a", has_text="Review inbox").bounding_box()
        assert link and link["width"] > 60  # a readable link, not a column one letter wide
        page.goto(f"{live_server.url}/admin/inbox/")
        assert no_sideways_scroll(page)
        page.screenshot(path=str(shots / "inbox-phone-done.png"), full_page=True)
        browser.close()

    sent = submissions(sandbox)
    assert len(sent) == 1
    assert sent[0]["cover_letter"].startswith("Hi, I have built Django REST APIs")
    assert "Screening answers" not in sent[0]["cover_letter"]
    assert sent[0]["answers"] == {questions[0]: ANSWER_EXPERIENCE, questions[1]: ANSWER_AVAILABILITY}
    assert float(sent[0]["charge_rate"]) == 80.0
    assert Proposal.objects.get(id=proposal.id).status == ProposalStatus.APPROVED
    actions = set(AuditEntry.objects.filter(actor=boss).values_list("action", flat=True))
    assert {"task.enqueue", "proposal.approve", "application.create", "application.approve"} <= actions
    assert "application.schedule" in actions
