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
# "You will be asked to answer the following questions when submitting a proposal" on the job page.
DETAIL_QUESTION = '[data-test="screening-questions"] [data-test="screening-question"]'
DETAIL_PROPOSALS = '[data-test="client-activity"] [data-test="proposals-tier"]'
DETAIL_CONNECTS = '[data-test="connects-required"]'
CLIENT_PAYMENT = '[data-test="payment-verified"]'
CLIENT_COUNTRY = '[data-test="client-country"]'
CLIENT_RATING = '[data-test="client-rating"]'
CLIENT_REVIEWS = '[data-test="client-reviews"]'
CLIENT_SPENT = '[data-test="client-total-spent"]'
CLIENT_HIRES = '[data-test="client-hires"]'

# --- Proposal form (submitting an application) and the freelancer's proposals list ---
PROPOSALS_LIST_PATH = "/nx/proposals/"


def apply_path(upwork_id: str) -> str:
    return f"/ab/proposals/job/{upwork_id}/apply/"


APPLY_FORM = 'form#proposal-form, form[data-test="proposal-form"]'
APPLY_CONNECTS_REQUIRED = '[data-test="connects-required"]'
APPLY_HOURLY_RATE = 'input[data-test="charge-rate"]'
APPLY_BID_AMOUNT = 'input[data-test="bid-amount"]'
APPLY_COVER_LETTER = 'textarea[data-test="cover-letter"]'
APPLY_QUESTION = '[data-test="screening-question"]'
APPLY_QUESTION_TEXT = '[data-test="question-text"]'
APPLY_QUESTION_ANSWER = '[data-test="question-answer"]'
APPLY_ATTACHMENTS = 'input[type="file"][data-test="attachments"]'
APPLY_BOOST_TOGGLE = 'input[data-test="boost-toggle"]'
APPLY_BOOST_CONNECTS = 'input[data-test="boost-connects"]'
APPLY_SUBMIT = 'button[data-test="submit-proposal"]'
APPLY_FORM_ERROR = '[data-test="form-error"]'
APPLY_ALREADY_APPLIED = '[data-test="already-applied"]'
SUBMITTED_CONFIRMATION = '[data-test="proposal-submitted"]'
SUBMITTED_REFERENCE = 'main [data-test="proposal-reference"]'
PROPOSALS_LIST = '[data-test="proposals-list"]'
PROPOSAL_ROW = '[data-test="proposal-row"]'
PROPOSAL_ROW_JOB_ATTRIBUTE = "data-job-id"
PROPOSAL_ROW_REFERENCE_ATTRIBUTE = "data-reference"
# Outcome tracking: each row's status, the client's events with their times, refunded Connects, pagination.
PROPOSAL_ROW_STATUS_ATTRIBUTE = "data-status"
PROPOSAL_CONNECTS_SPENT = '[data-test="proposal-connects-spent"]'
PROPOSAL_EVENT = '[data-test="proposal-event"]'
PROPOSAL_EVENT_KIND_ATTRIBUTE = "data-kind"
PROPOSAL_EVENT_AT_ATTRIBUTE = "data-at"
PROPOSAL_REFUNDED = '[data-test="connects-refunded"]'
PROPOSALS_NEXT_PAGE = 'a[data-test="proposals-next-page"]'
