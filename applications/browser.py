"""Filling and sending Upwork's proposal form, and reading the proposals list, in Debian's Chromium.

Like the jobs browser source it never logs in and never solves anything: a CAPTCHA, a login wall or a page
it does not recognise stops the attempt with `Stopped`, carrying a screenshot, for a person to look at.
Selectors come from jobs/page_selectors.py.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urljoin, urlparse

from django.conf import settings
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

from applications.outcome_sources import PAGE_KINDS, ProposalState, parse_time
from jobs import conf as jobs_conf
from jobs import page_selectors as sel
from jobs.sources.browser import chromium_args, parse_int
from upwork_automation import chromium

logger = logging.getLogger(__name__)


@dataclass
class Shot:
    kind: str
    png: bytes
    url: str


@dataclass
class FormInput:
    upwork_id: str
    job_type: str  # "hourly" or "fixed"
    cover_letter: str
    bid_amount: Decimal
    answers: list[dict]  # [{"question", "answer"}]
    attachment_paths: list[str]
    boost_connects: int = 0


@dataclass
class SubmitOutcome:
    submitted: bool
    reference: str = ""
    connects_on_page: int | None = None
    url: str = ""
    shots: list[Shot] = field(default_factory=list)


@dataclass
class VerifyOutcome:
    found: bool
    references: list[str]
    url: str
    shots: list[Shot] = field(default_factory=list)


@dataclass
class ProposalsRead:
    states: list[ProposalState]
    pages: int
    url: str
    shots: list[Shot] = field(default_factory=list)


class BrowserStop(Exception):
    """The attempt stopped. `clicked` says whether submit had been clicked (then the outcome is unknown).

    `partial` holds what a multi-page read had read before the stop (outcome tracking records it).
    """

    reason = "error"

    def __init__(self, message: str, *, url: str = "", clicked: bool = False, shots: list[Shot] | None = None):
        super().__init__(message)
        self.message = message
        self.url = url
        self.clicked = clicked
        self.shots = shots or []
        self.partial: list[ProposalState] = []


class Stopped(BrowserStop):
    """A CAPTCHA, a login wall, an unexpected page or form: a person must look. Never retried blindly."""

    def __init__(self, message: str, *, reason: str, **kwargs):
        super().__init__(message, **kwargs)
        self.reason = reason


class FormRejected(BrowserStop):
    """The site sent the form back with errors: nothing was submitted."""

    reason = "form_rejected"


class Refused(BrowserStop):
    """Our own check refused to go on after reading the form (e.g. it asks more Connects than approved)."""

    reason = "refused"


class BrowserUnavailable(BrowserStop):
    """Chromium did not start or a page did not load before submit: retrying later can help."""

    reason = "browser_error"


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip().casefold()


class ApplyBrowser:
    """One Chromium per call, a fresh context with the imported storage state, paced like a person."""

    def __init__(self, *, storage_state: dict):
        self.storage_state = storage_state
        self.base_url = jobs_conf.base_url()
        self.delay_min = settings.JOBS_BROWSER_DELAY_MIN
        self.delay_max = max(self.delay_min, settings.JOBS_BROWSER_DELAY_MAX)
        self.timeout_ms = settings.JOBS_BROWSER_NAV_TIMEOUT * 1000
        self.shots: list[Shot] = []

    # --- helpers --------------------------------------------------------------
    def _pause(self) -> None:
        time.sleep(random.uniform(self.delay_min, self.delay_max))

    def _shot(self, page: Page, kind: str) -> None:
        try:
            if kind in ("dry_run", "form_filled"):
                self._show_whole_text(page)
            self.shots.append(Shot(kind=kind, png=page.screenshot(full_page=True), url=page.url))
        except PlaywrightError as error:
            logger.warning("Screenshot (%s) failed: %s", kind, str(error).splitlines()[0])

    @staticmethod
    def _show_whole_text(page: Page) -> None:
        """Grow each filled text box to its content, so the full-page capture shows the whole letter and answers.

        A textarea scrolls inside itself: a long letter would otherwise show only the lines last typed.
        """
        page.eval_on_selector_all(
            "textarea",
            "els => els.forEach(el => { el.style.height = 'auto'; el.style.height = (el.scrollHeight + 4) + 'px'; "
            "el.scrollTop = 0; })",
        )

    def _stop(self, page: Page, message: str, *, reason: str, clicked: bool = False) -> Stopped:
        self._shot(page, "attention")
        return Stopped(message, reason=reason, url=page.url, clicked=clicked, shots=self.shots)

    def _check_walls(self, page: Page, *, clicked: bool) -> None:
        if page.query_selector(sel.CAPTCHA):
            raise self._stop(page, "Upwork showed a CAPTCHA.", reason="captcha", clicked=clicked)
        path = urlparse(page.url).path
        if any(marker in path for marker in sel.LOGIN_PATH_MARKERS) or page.query_selector(sel.LOGIN_FORM):
            raise self._stop(
                page, "Upwork asked to log in: the session is logged out.", reason="login_wall", clicked=clicked
            )

    def _open(self, page: Page, url: str, *, expect: str) -> None:
        self._pause()
        try:
            response = page.goto(url, wait_until="domcontentloaded")
        except PlaywrightError as error:
            raise BrowserUnavailable(f"Could not load {url}: {str(error).splitlines()[0]}", url=url) from None
        self._check_walls(page, clicked=False)
        if page.query_selector(sel.APPLY_ALREADY_APPLIED):
            raise self._stop(page, "Upwork says a proposal was already sent for this job.", reason="already_applied")
        if not page.query_selector(expect):
            status = response.status if response else 0
            raise self._stop(
                page,
                f"Unexpected page (HTTP {status}, title {page.title()!r}); the markup may have changed.",
                reason="unexpected_page",
            )

    def _run(self, work: Callable[[Page], object]):
        headless = settings.JOBS_BROWSER_HEADLESS
        try:
            executable_path = chromium.executable(settings.JOBS_BROWSER_EXECUTABLE)
        except chromium.ChromiumNotFound as error:
            raise BrowserUnavailable(str(error)) from None
        with sync_playwright() as playwright:
            try:
                browser = playwright.chromium.launch(
                    executable_path=executable_path,
                    headless=headless,
                    args=[*(["--headless"] if headless else []), *chromium_args()],
                )
            except PlaywrightError as error:
                raise BrowserUnavailable(f"Could not start Chromium: {str(error).splitlines()[0]}") from None
            try:
                context = browser.new_context(storage_state=self.storage_state, viewport={"width": 1280, "height": 900})
                context.set_default_timeout(self.timeout_ms)
                return work(context.new_page())
            finally:
                browser.close()

    # --- submitting -----------------------------------------------------------
    def submit(
        self, form: FormInput, *, dry_run: bool, connects_check: Callable[[int | None], None] | None = None
    ) -> SubmitOutcome:
        """Fill the form; click submit unless dry_run; return the confirmation reference and screenshots.

        `connects_check(n)` sees the Connects the form asks for before anything is typed; it raises to stop.
        It runs inside Playwright's event loop, where Django refuses database access: keep it pure.
        """
        return self._run(lambda page: self._submit(page, form, dry_run=dry_run, connects_check=connects_check))

    def _submit(self, page: Page, form: FormInput, *, dry_run: bool, connects_check) -> SubmitOutcome:
        self._open(page, urljoin(self.base_url, sel.apply_path(form.upwork_id)), expect=sel.APPLY_FORM)
        connects_element = page.query_selector(f"{sel.APPLY_CONNECTS_REQUIRED}")
        connects = parse_int(connects_element.inner_text()) if connects_element else None
        if connects_check is not None:
            try:
                connects_check(connects)
            except Refused as refused:
                self._shot(page, "attention")
                refused.url, refused.shots = page.url, self.shots
                raise
        self._fill(page, form)
        if dry_run:
            self._shot(page, "dry_run")
            return SubmitOutcome(submitted=False, connects_on_page=connects, url=page.url, shots=self.shots)
        self._shot(page, "form_filled")
        self._pause()
        try:
            with page.expect_navigation(wait_until="domcontentloaded"):
                page.click(sel.APPLY_SUBMIT)
        except PlaywrightError as error:
            raise self._stop(
                page,
                f"Submit was clicked but no page followed ({str(error).splitlines()[0]}); check Upwork's list.",
                reason="unexpected_page",
                clicked=True,
            ) from None
        self._check_walls(page, clicked=True)
        errors = [e.inner_text().strip() for e in page.query_selector_all(sel.APPLY_FORM_ERROR)]
        if errors:
            self._shot(page, "attention")
            raise FormRejected("Upwork refused the form: " + " ".join(errors), url=page.url, shots=self.shots)
        if not page.query_selector(sel.SUBMITTED_CONFIRMATION):
            raise self._stop(
                page,
                f"No confirmation after submitting (title {page.title()!r}).",
                reason="unexpected_page",
                clicked=True,
            )
        reference_element = page.query_selector(sel.SUBMITTED_REFERENCE)
        reference = reference_element.inner_text().strip() if reference_element else ""
        self._shot(page, "confirmation")
        return SubmitOutcome(
            submitted=True, reference=reference, connects_on_page=connects, url=page.url, shots=self.shots
        )

    def _fill(self, page: Page, form: FormInput) -> None:
        rate_selectors = (
            (sel.APPLY_HOURLY_RATE, sel.APPLY_BID_AMOUNT)
            if form.job_type == "hourly"
            else (sel.APPLY_BID_AMOUNT, sel.APPLY_HOURLY_RATE)
        )
        rate_input = next((page.query_selector(s) for s in rate_selectors if page.query_selector(s)), None)
        letter_input = page.query_selector(sel.APPLY_COVER_LETTER)
        if rate_input is None or letter_input is None:
            raise self._stop(page, "The proposal form has no rate or cover letter field.", reason="unexpected_page")
        rate_input.fill(f"{form.bid_amount:.2f}")
        letter_input.fill(form.cover_letter)
        answers = {_normal(item["question"]): item["answer"] for item in form.answers}
        for block in page.query_selector_all(sel.APPLY_QUESTION):
            question_element = block.query_selector(sel.APPLY_QUESTION_TEXT)
            question = question_element.inner_text() if question_element else ""
            answer = answers.get(_normal(question))
            answer_input = block.query_selector(sel.APPLY_QUESTION_ANSWER)
            if answer is None or answer_input is None:
                raise self._stop(
                    page,
                    f"The form asks a question the approved proposal does not answer: {question.strip()!r}.",
                    reason="unanswered_question",
                )
            answer_input.fill(answer)
        if form.attachment_paths:
            upload = page.query_selector(sel.APPLY_ATTACHMENTS)
            if upload is None:
                raise self._stop(page, "The proposal form has no attachment field.", reason="unexpected_page")
            upload.set_input_files(form.attachment_paths)
        boost_toggle = page.query_selector(sel.APPLY_BOOST_TOGGLE)
        if form.boost_connects > 0:
            boost_connects = page.query_selector(sel.APPLY_BOOST_CONNECTS)
            if boost_toggle is None or boost_connects is None:
                raise self._stop(page, "The proposal form has no boost field.", reason="unexpected_page")
            boost_toggle.check()
            boost_connects.fill(str(form.boost_connects))
        elif boost_toggle is not None and boost_toggle.is_checked():
            boost_toggle.uncheck()

    # --- verifying ------------------------------------------------------------
    def verify(self, *, upwork_id: str, reference: str) -> VerifyOutcome:
        """Open the proposals list and look for a row for this job (and reference, when known)."""
        return self._run(lambda page: self._verify(page, upwork_id=upwork_id, reference=reference))

    def _verify(self, page: Page, *, upwork_id: str, reference: str) -> VerifyOutcome:
        self._open(page, urljoin(self.base_url, sel.PROPOSALS_LIST_PATH), expect=sel.PROPOSALS_LIST)
        references = []
        found = False
        for row in page.query_selector_all(sel.PROPOSAL_ROW):
            row_reference = row.get_attribute(sel.PROPOSAL_ROW_REFERENCE_ATTRIBUTE) or ""
            references.append(row_reference)
            if row.get_attribute(sel.PROPOSAL_ROW_JOB_ATTRIBUTE) == upwork_id and (
                not reference or row_reference == reference
            ):
                found = True
        self._shot(page, "verification")
        return VerifyOutcome(found=found, references=references, url=page.url, shots=self.shots)

    # --- outcome tracking -----------------------------------------------------
    def read_proposals(self, *, max_pages: int = 20) -> ProposalsRead:
        """Read every page of the proposals list, one page at a time at a person's pace.

        A wall on page N raises `Stopped` with `partial` = the rows of pages 1..N-1 (nothing from page N).
        """
        return self._run(lambda page: self._read_proposals(page, max_pages=max_pages))

    def _read_proposals(self, page: Page, *, max_pages: int) -> ProposalsRead:
        states: list[ProposalState] = []
        url = urljoin(self.base_url, sel.PROPOSALS_LIST_PATH)
        pages = 0
        while url and pages < max_pages:
            try:
                self._open(page, url, expect=sel.PROPOSALS_LIST)
            except BrowserStop as stop:
                stop.partial = states
                raise
            pages += 1
            states.extend(self._proposal_row(row) for row in page.query_selector_all(sel.PROPOSAL_ROW))
            next_link = page.query_selector(sel.PROPOSALS_NEXT_PAGE)
            href = next_link.get_attribute("href") if next_link else None
            url = urljoin(page.url, href) if href else ""
        return ProposalsRead(states=states, pages=pages, url=page.url, shots=self.shots)

    @staticmethod
    def _proposal_row(row) -> ProposalState:
        events = []
        for item in row.query_selector_all(sel.PROPOSAL_EVENT):
            kind = item.get_attribute(sel.PROPOSAL_EVENT_KIND_ATTRIBUTE) or ""
            if kind in PAGE_KINDS:
                events.append((kind, parse_time(item.get_attribute(sel.PROPOSAL_EVENT_AT_ATTRIBUTE))))
            else:
                logger.info("Proposals page: unknown event %r ignored", kind)
        spent = row.query_selector(sel.PROPOSAL_CONNECTS_SPENT)
        refunded = row.query_selector(sel.PROPOSAL_REFUNDED)
        return ProposalState(
            reference=row.get_attribute(sel.PROPOSAL_ROW_REFERENCE_ATTRIBUTE) or "",
            upwork_id=row.get_attribute(sel.PROPOSAL_ROW_JOB_ATTRIBUTE) or "",
            status=row.get_attribute(sel.PROPOSAL_ROW_STATUS_ATTRIBUTE) or "",
            events=events,
            connects_spent=parse_int(spent.inner_text()) if spent else None,
            connects_refunded=(parse_int(refunded.inner_text()) or 0) if refunded else 0,
        )
