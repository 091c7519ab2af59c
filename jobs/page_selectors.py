"""Every CSS selector and URL shape the browser source relies on. When Upwork's markup changes, fix it here.

(Named page_selectors so it is not confused with selectors.py, which holds database reads.)
"""

from urllib.parse import urlencode

# --- URLs (paths under UPWORK_BASE_URL) --------------------------------------
SEARCH_PATH = "/nx/search/jobs/"
LOGIN_PATH_MARKERS = ("/ab/account-security/login", "/login")


def search_path(*, query: str = "", skills: tuple[str, ...] = (), category: str = "", page: int = 1) -> str:
    params = {"q": query, "skills": ",".join(skills), "category": category, "page": page if page > 1 else ""}
    return f"{SEARCH_PATH}?{urlencode({k: v for k, v in params.items() if v})}"


def job_path(upwork_id: str) -> str:
    return f"/jobs/{upwork_id}"


# --- Walls: any of these means stop and ask a person --------------------------
CAPTCHA = '#challenge-form, [data-test="captcha"], iframe[src*="captcha"], iframe[title*="captcha" i]'
LOGIN_FORM = 'form#login_form, input[name="login[username]"], #login_username'

# --- Search results -----------------------------------------------------------
RESULTS_CONTAINER = '[data-test="job-search-results"]'
NO_RESULTS = '[data-test="no-results"]'
JOB_TILE = 'article[data-test="JobTile"]'
TILE_ID_ATTRIBUTE = "data-ev-job-uid"
TILE_TITLE_LINK = 'a[data-test="job-tile-title-link"]'
TILE_POSTED = '[data-test="job-pubilshed-date"]'  # sic: Upwork's spelling
TILE_POSTED_ATTRIBUTE = "data-posted"
TILE_TYPE_LABEL = '[data-test="job-type-label"]'
TILE_EXPERIENCE = '[data-test="experience-level"]'
TILE_DESCRIPTION = '[data-test="job-description-text"]'
TILE_SKILL = '[data-test="token-container"] [data-test="token"]'
TILE_PROPOSALS = '[data-test="proposals-tier"]'
NEXT_PAGE = 'a[data-test="pagination-next"], button[data-test="next-page"]:not([disabled])'

# --- Job detail ---------------------------------------------------------------
DETAIL_CONTAINER = '[data-test="job-details"]'
DETAIL_TITLE = '[data-test="job-title"]'
DETAIL_DESCRIPTION = '[data-test="job-description"]'
DETAIL_POSTED = '[data-test="posted-on"]'
DETAIL_POSTED_ATTRIBUTE = "data-posted"
DETAIL_CATEGORY = '[data-test="category"]'
DETAIL_JOB_TYPE = '[data-test="job-type"]'
DETAIL_BUDGET = '[data-test="budget"]'
DETAIL_HOURLY_RANGE = '[data-test="hourly-range"]'
DETAIL_EXPERIENCE = '[data-test="job-features"] [data-test="experience-level"]'
DETAIL_DURATION = '[data-test="duration"]'
DETAIL_WORKLOAD = '[data-test="workload"]'
DETAIL_SKILL = '[data-test="skills"] [data-test="skill"]'
DETAIL_PROPOSALS = '[data-test="client-activity"] [data-test="proposals-tier"]'
DETAIL_CONNECTS = '[data-test="connects-required"]'
CLIENT_PAYMENT = '[data-test="payment-verified"]'
CLIENT_COUNTRY = '[data-test="client-country"]'
CLIENT_RATING = '[data-test="client-rating"]'
CLIENT_REVIEWS = '[data-test="client-reviews"]'
CLIENT_SPENT = '[data-test="client-total-spent"]'
CLIENT_HIRES = '[data-test="client-hires"]'
