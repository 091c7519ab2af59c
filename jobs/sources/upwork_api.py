"""Upwork's official GraphQL API: OAuth2 authorization-code flow, token refresh, marketplaceJobPostingsSearch."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

import requests
from django.conf import settings

from jobs import conf
from jobs.errors import ApiAuthError, ApiError, ApiRateLimited
from jobs.sources.base import JobRecord, JobSource, SearchResult, SearchSpec

logger = logging.getLogger(__name__)

JOB_SEARCH_QUERY = """
query marketplaceJobPostingsSearch(
  $marketPlaceJobFilter: MarketplaceJobPostingsSearchFilter,
  $searchType: MarketplaceJobPostingSearchType,
  $sortAttributes: [MarketplaceJobPostingSearchSortAttribute]
) {
  marketplaceJobPostingsSearch(
    marketPlaceJobFilter: $marketPlaceJobFilter, searchType: $searchType, sortAttributes: $sortAttributes
  ) {
    totalCount
    edges {
      cursor
      node {
        id ciphertext title description createdDateTime publishedDateTime category
        skills { name prettyName }
        experienceLevel duration engagement
        job { contractTerms { contractType } }
        amount { rawValue currency }
        hourlyBudgetMin { rawValue }
        hourlyBudgetMax { rawValue }
        totalApplicants connectPrice
        contractorSelection { proposalRequirement { screeningQuestions { question sequenceNumber } } }
        client {
          location { country } verificationStatus totalSpent { rawValue } totalHires totalFeedback totalReviews
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
EXPERIENCE_LABELS = {"ENTRY_LEVEL": "Entry level", "INTERMEDIATE": "Intermediate", "EXPERT": "Expert"}


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str
    expires_at: datetime | None
    token_type: str = "Bearer"  # noqa: S105 - a scheme name
    scope: str = ""

    def expired(self, *, margin_seconds: int = 60) -> bool:
        return self.expires_at is None or self.expires_at <= datetime.now(UTC) + timedelta(seconds=margin_seconds)


class UpworkOAuthClient:
    """The token endpoint: trade an authorization code for tokens, and a refresh token for new ones."""

    def __init__(self, *, http: requests.Session | None = None):
        self.http = http or requests.Session()
        self.client_id = settings.UPWORK_CLIENT_ID
        self.client_secret = settings.UPWORK_CLIENT_SECRET
        self.timeout = settings.UPWORK_API_TIMEOUT

    def authorization_url(self, *, state: str, code_challenge: str, redirect_uri: str | None = None) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri or settings.UPWORK_REDIRECT_URI,
            "state": state,
            "code_challenge": code_challenge,  # PKCE (RFC 7636): the code is useless without our verifier
            "code_challenge_method": "S256",
        }
        return f"{conf.authorize_url()}?{urlencode(params)}"

    def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str | None = None) -> TokenSet:
        return self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": redirect_uri or settings.UPWORK_REDIRECT_URI,
            }
        )

    def refresh(self, *, refresh_token: str) -> TokenSet:
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _token_request(self, form: dict) -> TokenSet:
        if not self.client_id:
            raise ApiAuthError("UPWORK_CLIENT_ID is not set; register an API key with Upwork and set it.")
        form = {**form, "client_id": self.client_id, "client_secret": self.client_secret}
        try:
            response = self.http.post(conf.token_url(), data=form, timeout=self.timeout)
        except requests.RequestException as error:
            raise ApiError(f"Could not reach Upwork's token endpoint: {type(error).__name__}.") from None
        if response.status_code in (400, 401):
            raise ApiAuthError(
                f"Upwork refused the {form['grant_type']} grant ({_error_code(response)}); "
                "connect the account again with `manage.py jobs upwork-connect`."
            )
        if response.status_code >= 300:
            raise ApiError(f"Upwork's token endpoint answered HTTP {response.status_code}.")
        body = response.json()
        expires_in = body.get("expires_in")
        return TokenSet(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token") or form.get("refresh_token", ""),
            expires_at=datetime.now(UTC) + timedelta(seconds=int(expires_in)) if expires_in else None,
            token_type=body.get("token_type", "Bearer"),
            scope=body.get("scope", ""),
        )


def _error_code(response: requests.Response) -> str:
    try:
        return str(response.json().get("error") or response.status_code)
    except ValueError:
        return str(response.status_code)


class UpworkGraphQLClient:
    """Runs GraphQL requests with a bearer token; refreshes it when expired or refused, waits out 429s."""

    def __init__(
        self,
        *,
        tokens: TokenSet,
        oauth: UpworkOAuthClient | None = None,
        on_refresh: Callable[[TokenSet], None] | None = None,
        http: requests.Session | None = None,
    ):
        self.tokens = tokens
        self.oauth = oauth or UpworkOAuthClient()
        self.on_refresh = on_refresh
        self._shared_http = http
        self._local = threading.local()  # searches run in threads; each gets its own connection pool
        self._sessions: list[requests.Session] = []
        self.url = conf.api_url()
        self.timeout = settings.UPWORK_API_TIMEOUT
        self.rate_limit_retries = settings.UPWORK_API_RATE_LIMIT_RETRIES
        self.max_retry_wait = settings.UPWORK_API_MAX_RETRY_WAIT
        self.refreshes = 0
        self._lock = threading.Lock()

    @property
    def http(self) -> requests.Session:
        if self._shared_http is not None:
            return self._shared_http
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def _refresh(self, *, stale_access_token: str) -> None:
        """Refresh once even when several threads find the token stale at the same moment."""
        with self._lock:
            if self.tokens.access_token != stale_access_token:
                return  # another thread already refreshed
            if not self.tokens.refresh_token:
                raise ApiAuthError("The Upwork API token expired and there is no refresh token; connect again.")
            self.tokens = self.oauth.refresh(refresh_token=self.tokens.refresh_token)
            self.refreshes += 1
            logger.info("Refreshed the Upwork API access token")
            if self.on_refresh is not None:
                self.on_refresh(self.tokens)

    def execute(self, query: str, variables: dict | None = None) -> dict:
        if self.tokens.expired():
            self._refresh(stale_access_token=self.tokens.access_token)
        refreshed = False
        rate_limited = 0
        while True:
            access_token = self.tokens.access_token
            try:
                response = self.http.post(
                    self.url,
                    json={"query": query, "variables": variables or {}},
                    headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                    timeout=self.timeout,
                )
            except requests.RequestException as error:
                raise ApiError(f"Could not reach Upwork's API: {type(error).__name__}.") from None
            if response.status_code == 401 and not refreshed:
                refreshed = True
                self._refresh(stale_access_token=access_token)
                continue
            if response.status_code in (401, 403):
                raise ApiAuthError(
                    f"Upwork's API refused the token (HTTP {response.status_code}) even after a refresh; "
                    "connect the account again with `manage.py jobs upwork-connect`."
                )
            if response.status_code == 429:
                retry_after = _retry_after(response)
                if rate_limited < self.rate_limit_retries and (retry_after or 0) <= self.max_retry_wait:
                    rate_limited += 1
                    logger.info("Upwork API rate limit; waiting %ss (retry %d)", retry_after or 1, rate_limited)
                    time.sleep(retry_after if retry_after is not None else 1.0)
                    continue
                raise ApiRateLimited(
                    f"Upwork's API is rate limiting us (Retry-After: {retry_after}).", retry_after=retry_after
                )
            if response.status_code >= 500:
                raise ApiError(f"Upwork's API answered HTTP {response.status_code}; try again later.")
            if response.status_code >= 300:
                raise ApiError(f"Upwork's API answered HTTP {response.status_code}.")
            body = response.json()
            if body.get("errors"):
                error = ApiError(
                    "Upwork's API returned errors: " + "; ".join(e.get("message", "?") for e in body["errors"])
                )
                error.retryable = False  # a query the API rejects will be rejected again
                raise error
            return body.get("data") or {}

    def search_jobs(self, spec: SearchSpec, *, page_size: int, max_pages: int) -> tuple[list[JobRecord], int]:
        """Follow cursors until the last page or max_pages; return the records and the pages read."""
        records: list[JobRecord] = []
        cursor = None
        pages = 0
        while pages < max_pages:
            search_filter: dict = {"pagination_eq": {"first": page_size, **({"after": cursor} if cursor else {})}}
            if spec.query:
                search_filter["searchExpression_eq"] = spec.query
            if spec.skills:
                search_filter["skillExpression_eq"] = ",".join(spec.skills)
            if spec.category:
                search_filter["categoryIds_any"] = [spec.category]
            data = self.execute(
                JOB_SEARCH_QUERY,
                {
                    "marketPlaceJobFilter": search_filter,
                    "searchType": "USER_JOBS_SEARCH",
                    "sortAttributes": [{"field": "RECENCY"}],
                },
            )
            pages += 1
            block = data.get("marketplaceJobPostingsSearch") or {}
            records.extend(node_to_record(edge["node"]) for edge in block.get("edges") or [])
            page_info = block.get("pageInfo") or {}
            cursor = page_info.get("endCursor")
            if not page_info.get("hasNextPage") or not cursor:
                break
        return records, pages


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _raw(money: dict | None) -> Decimal | None:
    return _decimal((money or {}).get("rawValue"))


def _tier(applicants: int | None) -> str:
    if applicants is None:
        return ""
    for bound, label in ((5, "Less than 5"), (10, "5 to 10"), (15, "10 to 15"), (20, "15 to 20"), (50, "20 to 50")):
        if applicants < bound:
            return label
    return "50+"


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _screening_questions(node: dict) -> list[str]:
    """The application form's questions, in their order (contractorSelection.proposalRequirement)."""
    requirement = ((node.get("contractorSelection") or {}).get("proposalRequirement")) or {}
    items = sorted(
        (item for item in requirement.get("screeningQuestions") or [] if item and item.get("question")),
        key=lambda item: item.get("sequenceNumber") or 0,
    )
    return [" ".join(str(item["question"]).split()) for item in items]


def node_to_record(node: dict) -> JobRecord:
    """Map a MarketplaceJobPosting node to a JobRecord (the one place that knows the API's field names)."""
    ciphertext = node.get("ciphertext") or f"~0{node['id']}"
    contract = (((node.get("job") or {}).get("contractTerms") or {}).get("contractType") or "").upper()
    hourly_min, hourly_max = _raw(node.get("hourlyBudgetMin")), _raw(node.get("hourlyBudgetMax"))
    job_type = "hourly" if contract == "HOURLY" or (not contract and (hourly_min or hourly_max)) else "fixed"
    amount = _raw(node.get("amount"))
    client = node.get("client") or {}
    verification = client.get("verificationStatus")
    rating = _decimal(client.get("totalFeedback"))
    return JobRecord(
        upwork_id=ciphertext,
        url=f"{conf.base_url()}/jobs/{ciphertext}",
        title=node.get("title") or "",
        description=node.get("description") or "",
        job_type=job_type,
        budget=amount if job_type == "fixed" and amount else None,
        hourly_min=hourly_min if job_type == "hourly" else None,
        hourly_max=hourly_max if job_type == "hourly" else None,
        skills=[s.get("prettyName") or s.get("name") for s in node.get("skills") or [] if s],
        screening_questions=_screening_questions(node),
        category=node.get("category") or "",
        experience_level=EXPERIENCE_LABELS.get(node.get("experienceLevel") or "", node.get("experienceLevel") or ""),
        duration=node.get("duration") or "",
        workload=node.get("engagement") or "",
        client_country=(client.get("location") or {}).get("country") or "",
        client_payment_verified=None if verification is None else verification == "VERIFIED",
        client_total_spent=_raw(client.get("totalSpent")),
        client_hires=client.get("totalHires"),
        client_rating=rating.quantize(Decimal("0.01")) if rating is not None else None,
        client_reviews=client.get("totalReviews"),
        proposals_tier=_tier(node.get("totalApplicants")),
        connects_required=node.get("connectPrice"),
        posted_at=_datetime(node.get("publishedDateTime") or node.get("createdDateTime")),
        source="api",
    )


class UpworkApiSource(JobSource):
    """The sanctioned source: Upwork's GraphQL API."""

    kind = "api"

    def __init__(self, client: UpworkGraphQLClient):
        self.client = client
        self.page_size = settings.UPWORK_API_PAGE_SIZE
        self.max_pages = settings.UPWORK_API_MAX_PAGES

    def search(self, spec: SearchSpec) -> SearchResult:
        records, pages = self.client.search_jobs(
            spec, page_size=self.page_size, max_pages=spec.max_pages or self.max_pages
        )
        return SearchResult(spec=spec, records=records, pages=pages)

    def close(self) -> None:
        self.client.close()
