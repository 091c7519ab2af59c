"""The browser source: Debian's Chromium via Playwright with an imported session, paced like a person.

It never logs in and never solves anything: a CAPTCHA, a login wall or a page it does not recognise stops
every search at once with NeedsAttention, and the caller marks the session for a person to look at.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urljoin, urlparse

from django.conf import settings
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from jobs import conf
from jobs import page_selectors as sel
from jobs.errors import NeedsAttention, SourceError
from jobs.sources.base import JobRecord, JobSource, SearchResult, SearchSpec

logger = logging.getLogger(__name__)

# Every Chromium we start carries this switch, so cleanup can find strays by command line.
BROWSER_MARKER = "--upwork-automation-browser=jobs"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    BROWSER_MARKER,
]


# --- text parsing (pure, unit-tested) -----------------------------------------
_NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*([KkMm])?")


def parse_money(text: str | None) -> Decimal | None:
    """'$12.5K total spent' -> 12500; '$500.00' -> 500; None when no number."""
    match = _NUMBER.search(text or "")
    if not match:
        return None
    try:
        value = Decimal(match.group(1).replace(",", ""))
    except InvalidOperation:
        return None
    multiplier = {"k": 1000, "m": 1_000_000}.get((match.group(2) or "").lower(), 1)
    return value * multiplier


def parse_range(text: str | None) -> tuple[Decimal | None, Decimal | None]:
    """'$15.00 - $35.00' -> (15, 35); '$40.00' -> (40, 40)."""
    values = [parse_money(part) for part in re.split(r"\s*[-\u2013]\s*", text or "") if _NUMBER.search(part)]
    if not values:
        return None, None
    return values[0], values[-1]


def parse_int(text: str | None) -> int | None:
    match = re.search(r"\d[\d,]*", text or "")
    return int(match.group(0).replace(",", "")) if match else None


def parse_rating(text: str | None) -> Decimal | None:
    """'4.90 of 5' -> 4.90; 'No reviews yet' -> None."""
    match = re.search(r"\d+(?:\.\d+)?", text or "")
    return Decimal(match.group(0)).quantize(Decimal("0.01")) if match else None


def parse_payment_verified(text: str | None) -> bool | None:
    lowered = (text or "").lower()
    if "not verified" in lowered or "unverified" in lowered:
        return False
    return True if "verified" in lowered else None


def parse_posted(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def clean_tier(text: str | None) -> str:
    return re.sub(r"^\s*proposals:\s*", "", text or "", flags=re.IGNORECASE).strip()


# --- the source ---------------------------------------------------------------
class _Halt(Exception):
    """Another search hit a wall; this one stops quietly."""


class BrowserSource(JobSource):
    """Searches in one Chromium, a browser context per search (at most `concurrency` at once)."""

    kind = "browser"

    def __init__(self, *, storage_state: dict, fetch_details: bool = True):
        self.storage_state = storage_state
        self.fetch_details = fetch_details
        self.base_url = conf.base_url()
        self.delay_min = settings.JOBS_BROWSER_DELAY_MIN
        self.delay_max = max(self.delay_min, settings.JOBS_BROWSER_DELAY_MAX)
        self.max_pages = settings.JOBS_BROWSER_MAX_PAGES
        self.max_details = settings.JOBS_BROWSER_MAX_DETAILS
        self.timeout_ms = settings.JOBS_BROWSER_NAV_TIMEOUT * 1000
        self.page_loads = 0
        self._wall: NeedsAttention | None = None

    def search(self, spec: SearchSpec) -> SearchResult:
        return self.search_many([spec], concurrency=1)[0]

    def search_many(self, specs: list[SearchSpec], *, concurrency: int) -> list[SearchResult]:
        """Run the searches; on a wall raise NeedsAttention carrying the results gathered so far."""
        if not specs:
            return []
        results = asyncio.run(self._run_all(specs, max(1, concurrency)))
        if self._wall is not None:
            self._wall.results = results
            raise self._wall
        return results

    async def _run_all(self, specs: list[SearchSpec], concurrency: int) -> list[SearchResult]:
        semaphore = asyncio.Semaphore(concurrency)
        async with async_playwright() as playwright:
            try:
                headless = settings.JOBS_BROWSER_HEADLESS
                browser = await playwright.chromium.launch(
                    executable_path=settings.JOBS_BROWSER_EXECUTABLE,
                    headless=headless,
                    args=[*(["--headless"] if headless else []), *CHROMIUM_ARGS],
                )
            except PlaywrightError as error:
                raise SourceError(f"Could not start Chromium: {str(error).splitlines()[0]}") from None
            try:
                return list(await asyncio.gather(*(self._run_one(browser, spec, semaphore) for spec in specs)))
            finally:
                await browser.close()

    async def _run_one(self, browser: Browser, spec: SearchSpec, semaphore: asyncio.Semaphore) -> SearchResult:
        result = SearchResult(spec=spec)
        async with semaphore:
            if self._wall is not None:
                return result
            context = await browser.new_context(
                storage_state=self.storage_state, viewport={"width": 1366, "height": 900}
            )
            context.set_default_timeout(self.timeout_ms)
            page = await context.new_page()
            try:
                await self._search_pages(page, spec, result)
                if self.fetch_details:
                    await self._read_details(page, result)
            except _Halt:
                pass
            except NeedsAttention as wall:
                if self._wall is None:
                    self._wall = wall
            except PlaywrightError as error:
                result.error = str(error).splitlines()[0]
                logger.warning("Browser search %s failed: %s", spec.label, result.error)
            finally:
                await context.close()
        return result

    async def _pause(self) -> None:
        """Wait like a person between page loads; stop if another search hit a wall meanwhile."""
        await asyncio.sleep(random.uniform(self.delay_min, self.delay_max))
        if self._wall is not None:
            raise _Halt

    async def _open(self, page: Page, url: str, *, expect: str) -> int:
        """Load a page and make sure it is the page we expect; raise NeedsAttention otherwise."""
        await self._pause()
        response = await page.goto(url, wait_until="domcontentloaded")
        self.page_loads += 1
        status = response.status if response else 0
        if await page.query_selector(sel.CAPTCHA):
            raise NeedsAttention("Upwork showed a CAPTCHA.", reason="captcha", url=page.url)
        path = urlparse(page.url).path
        if any(marker in path for marker in sel.LOGIN_PATH_MARKERS) or await page.query_selector(sel.LOGIN_FORM):
            raise NeedsAttention(
                "Upwork asked to log in: the session is logged out.", reason="login_wall", url=page.url
            )
        if status == 404:
            return status
        if not await page.query_selector(expect):
            raise NeedsAttention(
                f"Unexpected page (HTTP {status}, title {await page.title()!r}); the markup may have changed.",
                reason="unexpected_page",
                url=page.url,
            )
        return status

    async def _search_pages(self, page: Page, spec: SearchSpec, result: SearchResult) -> None:
        url = urljoin(self.base_url, sel.search_path(query=spec.query, skills=spec.skills, category=spec.category))
        max_pages = spec.max_pages or self.max_pages
        while url and result.pages < max_pages:
            await self._open(page, url, expect=sel.RESULTS_CONTAINER)
            result.pages += 1
            for tile in await page.query_selector_all(sel.JOB_TILE):
                result.records.append(await self._tile_record(tile))
            next_link = await page.query_selector(sel.NEXT_PAGE)
            href = await next_link.get_attribute("href") if next_link else None
            url = urljoin(page.url, href) if href else None

    async def _tile_record(self, tile) -> JobRecord:
        async def text(selector: str) -> str:
            element = await tile.query_selector(selector)
            return (await element.inner_text()).strip() if element else ""

        link = await tile.query_selector(sel.TILE_TITLE_LINK)
        href = await link.get_attribute("href") if link else ""
        upwork_id = await tile.get_attribute(sel.TILE_ID_ATTRIBUTE) or href.rstrip("/").rsplit("/", 1)[-1]
        posted = await tile.query_selector(sel.TILE_POSTED)
        type_label = await text(sel.TILE_TYPE_LABEL)
        hourly = type_label.lower().startswith("hourly")
        low, high = parse_range(type_label.split(":", 1)[-1]) if hourly else (None, None)
        return JobRecord(
            upwork_id=upwork_id,
            url=urljoin(self.base_url, href or sel.job_path(upwork_id)),
            title=await text(sel.TILE_TITLE_LINK),
            description=await text(sel.TILE_DESCRIPTION),
            job_type="hourly" if hourly else ("fixed" if type_label else ""),
            budget=None if hourly else parse_money(type_label.split(":", 1)[-1]) if type_label else None,
            hourly_min=low,
            hourly_max=high,
            skills=[(await s.inner_text()).strip() for s in await tile.query_selector_all(sel.TILE_SKILL)],
            experience_level=await text(sel.TILE_EXPERIENCE),
            proposals_tier=clean_tier(await text(sel.TILE_PROPOSALS)),
            posted_at=parse_posted(await posted.get_attribute(sel.TILE_POSTED_ATTRIBUTE) if posted else None),
            source="browser",
        )

    async def _read_details(self, page: Page, result: SearchResult) -> None:
        for record in result.records[: self.max_details]:
            status = await self._open(page, record.url, expect=sel.DETAIL_CONTAINER)
            if status == 404:
                continue  # the job was withdrawn between the list and the detail
            await self._apply_detail(page, record)

    async def _apply_detail(self, page: Page, record: JobRecord) -> None:
        async def text(selector: str) -> str:
            element = await page.query_selector(selector)
            return (await element.inner_text()).strip() if element else ""

        posted = await page.query_selector(sel.DETAIL_POSTED)
        job_type = (await text(sel.DETAIL_JOB_TYPE)).lower()
        record.title = await text(sel.DETAIL_TITLE) or record.title
        record.description = await text(sel.DETAIL_DESCRIPTION) or record.description
        record.category = await text(sel.DETAIL_CATEGORY)
        if job_type:
            record.job_type = "hourly" if job_type.startswith("hourly") else "fixed"
        if record.job_type == "hourly":
            record.hourly_min, record.hourly_max = parse_range(await text(sel.DETAIL_HOURLY_RANGE))
            record.budget = None
        else:
            record.budget = parse_money(await text(sel.DETAIL_BUDGET))
        record.experience_level = await text(sel.DETAIL_EXPERIENCE) or record.experience_level
        record.duration = await text(sel.DETAIL_DURATION)
        record.workload = await text(sel.DETAIL_WORKLOAD)
        skills = [(await s.inner_text()).strip() for s in await page.query_selector_all(sel.DETAIL_SKILL)]
        record.skills = skills or record.skills
        questions = [(await q.inner_text()).strip() for q in await page.query_selector_all(sel.DETAIL_QUESTION)]
        record.screening_questions = [" ".join(q.split()) for q in questions if q.strip()]
        record.proposals_tier = clean_tier(await text(sel.DETAIL_PROPOSALS)) or record.proposals_tier
        record.connects_required = parse_int(await text(sel.DETAIL_CONNECTS))
        record.client_payment_verified = parse_payment_verified(await text(sel.CLIENT_PAYMENT))
        record.client_country = await text(sel.CLIENT_COUNTRY)
        record.client_rating = parse_rating(await text(sel.CLIENT_RATING))
        record.client_reviews = parse_int(await text(sel.CLIENT_REVIEWS))
        record.client_total_spent = parse_money(await text(sel.CLIENT_SPENT))
        record.client_hires = parse_int(await text(sel.CLIENT_HIRES))
        if posted is not None:
            record.posted_at = parse_posted(await posted.get_attribute(sel.DETAIL_POSTED_ATTRIBUTE)) or record.posted_at
