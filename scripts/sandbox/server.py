"""The sandbox marketplace: a small WSGI site on 127.0.0.1 that behaves like Upwork's pages and API.

Run it with `python -m scripts.sandbox.server --port 8765`, or start it in-process with `start_sandbox()`.
It is a stand-in for tests and demos, not Upwork: nothing here talks to the real site.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from html import escape
from http.cookies import SimpleCookie
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, quote, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from scripts.sandbox.data import (
    OUTCOME_KINDS,
    ClientEvent,
    SandboxJob,
    build_jobs,
    client_timeline,
    matches,
    new_posting,
)
from scripts.sandbox.receivers import Receivers

SESSION_COOKIE = "master_access_token"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "sandbox"  # noqa: S105 - the sandbox's published demo login, not a secret
LOGIN_PATH = "/ab/account-security/login"
SEARCH_PATH = "/nx/search/jobs/"
PROPOSALS_PATH = "/nx/proposals/"
AUTHORIZE_PATH = "/ab/account-security/oAuth2/authorize"
TOKEN_PATH = "/api/v3/oauth2/token"  # noqa: S105 - a URL path
GRAPHQL_PATH = "/graphql"
DEFAULT_CONFIG = {
    "captcha": False,  # every protected page shows a CAPTCHA wall
    "captcha_after_pages": 0,  # when > 0: serve this many protected pages, then switch the CAPTCHA wall on
    "broken_layout": False,  # search pages render without the results container (an "unexpected page")
    "rate_limit_remaining": 0,  # the next N GraphQL calls get 429
    "rate_limit_retry_after": 0,  # seconds in the Retry-After header of those 429 replies
    "graphql_error": "",  # when set, GraphQL replies 200 with this message in "errors"
    "access_token_ttl": 3600,  # seconds an issued access token is valid
    "per_page": 10,  # search results per page
    "proposals_per_page": 0,  # rows per page of "My proposals" (0 = all on one page)
    "outcome_seed": 0,  # seeds the simulated clients (views, replies, interviews, hires, cancellations)
    "clock_offset_days": 0,  # the sandbox's clock runs this many days ahead: simulated clients act meanwhile
    "new_posting_every": 0,  # when > 0: publish a new posting about every S seconds (randomized 0.5 S-1.5 S)
    "new_posting_seed": 0,  # seed of those random moments
    "new_posting_limit": 0,  # when > 0: stop after this many postings
}
# What the proposals page says for each client event (the latest one is the row's status).
OUTCOME_LABELS = {
    "submitted": "Submitted",
    "viewed": "Viewed by client",
    "replied": "Client messaged you",
    "interview": "Interviewing",
    "offer": "Offer received",
    "hired": "Hired",
    "declined": "Declined by client",
    "job_closed": "Job closed",
    "job_cancelled": "Job cancelled by client",
    "withdrawn": "Withdrawn",
}
# The official API's proposal status for each event (it never says whether the client viewed a proposal).
API_STATUSES = {
    "replied": "ACTIVATED",
    "interview": "INTERVIEWING",
    "offer": "OFFERED",
    "hired": "HIRED",
    "declined": "DECLINED",
    "job_closed": "JOB_CLOSED",
    "job_cancelled": "JOB_CANCELLED",
    "withdrawn": "WITHDRAWN",
}
STARTING_CONNECTS = 100


@dataclass
class SandboxState:
    """Everything the sandbox remembers; tests may read and change it directly."""

    jobs: list[SandboxJob] = field(default_factory=build_jobs)
    config: dict = field(default_factory=lambda: dict(DEFAULT_CONFIG))
    sessions: dict[str, str] = field(default_factory=dict)  # cookie value -> username
    auth_codes: dict[str, str] = field(default_factory=dict)  # code -> its PKCE S256 code_challenge
    access_tokens: dict[str, datetime] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    form_tokens: set[str] = field(default_factory=set)
    submissions: list[dict] = field(default_factory=list)
    connects: int = STARTING_CONNECTS
    counters: dict[str, int] = field(default_factory=lambda: {"graphql": 0, "token": 0, "pages": 0})
    scripted_outcomes: dict[str, list[ClientEvent]] = field(default_factory=dict)  # reference -> its timeline
    published: list[dict] = field(default_factory=list)  # postings published while running, oldest first
    published_total: int = 0  # never reset: ciphertexts stay unique for the life of the process
    nonce: str = field(default_factory=lambda: secrets.token_hex(4))
    publisher_generation: int = 0  # a publisher thread stops when this moves on
    receivers: Receivers = field(default_factory=Receivers)  # Slack / Telegram / webhook stand-ins
    lock: threading.RLock = field(default_factory=threading.RLock)

    def now(self) -> datetime:
        """The sandbox's clock: real time plus `clock_offset_days` (tests move it instead of waiting)."""
        return datetime.now(UTC) + timedelta(days=float(self.config.get("clock_offset_days") or 0))

    def record_submission(
        self,
        job: SandboxJob,
        *,
        connects_spent: int | None = None,
        submitted_at: datetime | None = None,
        username: str | None = DEMO_USERNAME,
        **fields,
    ) -> dict:
        """Keep a sent proposal (the apply form calls this; tests may too, to skip the form)."""
        with self.lock:
            spent = job.connects_required if connects_spent is None else connects_spent
            reference = f"PR-{len(self.submissions) + 1:06d}"
            submission = {
                "reference": reference,
                "job_id": job.ciphertext,
                "job_title": job.title,
                "job_type": job.job_type,
                "cover_letter": "",
                "charge_rate": None,
                "bid_amount": None,
                "answers": {},
                "attachments": [],
                "boost": False,
                "boost_connects": 0,
                **fields,
                "connects_spent": spent,
                "username": username,
                "submitted_at": (submitted_at or self.now()).isoformat(),
            }
            self.submissions.append(submission)
            return submission

    def timeline(self, submission: dict) -> list[ClientEvent]:
        """Everything the client will do with this proposal (scripted by a test, else the seeded simulation)."""
        scripted = self.scripted_outcomes.get(submission["reference"])
        if scripted is not None:
            return scripted
        job = self.job(submission["job_id"])
        if job is None:
            return []
        return client_timeline(
            job,
            submitted_at=datetime.fromisoformat(submission["submitted_at"]),
            connects_spent=int(submission["connects_spent"]),
            seed=int(self.config.get("outcome_seed") or 0),
        )

    def visible_events(self, submission: dict) -> list[ClientEvent]:
        """What has happened by the sandbox's clock."""
        now = self.now()
        return [event for event in self.timeline(submission) if event.at <= now]

    def job(self, ciphertext: str) -> SandboxJob | None:
        return next((job for job in self.jobs if job.ciphertext == ciphertext), None)

    def new_session(self, username: str = DEMO_USERNAME) -> str:
        with self.lock:
            value = secrets.token_urlsafe(24)
            self.sessions[value] = username
            return value

    def issue_tokens(self) -> dict:
        with self.lock:
            access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            ttl = int(self.config["access_token_ttl"])
            self.access_tokens[access] = datetime.now(UTC) + timedelta(seconds=ttl)
            self.refresh_tokens.add(refresh)
            return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": ttl}

    def expire_access_tokens(self) -> None:
        with self.lock:
            past = datetime.now(UTC) - timedelta(seconds=1)
            self.access_tokens = dict.fromkeys(self.access_tokens, past)

    def publish_posting(self) -> dict:
        """Publish one new posting now: first in the search results and the API, with its posted-at moment."""
        with self.lock:
            job = new_posting(number=self.published_total, nonce=self.nonce)
            self.published_total += 1
            self.jobs.insert(0, job)
            record = {
                "ciphertext": job.ciphertext,
                "title": job.title,
                "posted_at": job.posted_at.isoformat(),
                "posted_at_epoch": job.posted_at.timestamp(),
            }
            self.published.append(record)
            return record

    def restart_publisher(self) -> None:
        """(Re)start publishing per new_posting_every; 0 stops it. Moments are seeded: the same seed, the same gaps."""
        with self.lock:
            self.publisher_generation += 1
            generation = self.publisher_generation
            every = float(self.config["new_posting_every"] or 0)
            seed = self.config["new_posting_seed"]
            limit = int(self.config["new_posting_limit"] or 0)
        if every <= 0:
            return

        def publish() -> None:
            rng = random.Random(seed)
            published = 0
            while limit <= 0 or published < limit:
                gap = rng.uniform(0.5 * every, 1.5 * every)
                deadline = datetime.now(UTC) + timedelta(seconds=gap)
                while datetime.now(UTC) < deadline:
                    if self.publisher_generation != generation:
                        return
                    threading.Event().wait(min(0.1, max(0.0, (deadline - datetime.now(UTC)).total_seconds())))
                if self.publisher_generation != generation:
                    return
                self.publish_posting()
                published += 1

        threading.Thread(target=publish, name="sandbox-publisher", daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.publisher_generation += 1  # stops a running publisher
            published = {item["ciphertext"] for item in self.published}
            self.jobs = [job for job in self.jobs if job.ciphertext not in published]
            self.published.clear()
            self.config = dict(DEFAULT_CONFIG)
            self.submissions.clear()
            self.scripted_outcomes.clear()
            self.connects = STARTING_CONNECTS
            self.counters = {"graphql": 0, "token": 0, "pages": 0}
            self.receivers.reset()


class Response:
    def __init__(self, body: str | bytes = "", *, status: str = "200 OK", content_type: str = "text/html"):
        self.body = body.encode() if isinstance(body, str) else body
        self.status = status
        self.headers = [("Content-Type", f"{content_type}; charset=utf-8")]

    @classmethod
    def json(cls, data, *, status: str = "200 OK") -> Response:
        return cls(json.dumps(data, default=str), status=status, content_type="application/json")

    @classmethod
    def redirect(cls, location: str, *, status: str = "302 Found") -> Response:
        response = cls("", status=status)
        response.headers.append(("Location", location))
        return response


def _money(value: float) -> str:
    if value >= 1_000_000:
        return f"${value / 1_000_000:g}M"
    if value >= 1000:
        return f"${round(value / 1000, 1):g}K"
    return f"${value:,.0f}"


def _ago(moment: datetime) -> str:
    hours = int((datetime.now(UTC) - moment).total_seconds() // 3600)
    if hours < 1:
        return "Posted minutes ago"
    if hours < 24:
        return f"Posted {hours} hour{'s' if hours != 1 else ''} ago"
    return f"Posted {hours // 24} day{'s' if hours >= 48 else ''} ago"


def _layout(title: str, body: str, *, logged_in: bool = True) -> str:
    nav = (
        f'<nav data-test="main-nav"><a href="{SEARCH_PATH}">Find work</a> '
        f'<a href="{PROPOSALS_PATH}">My proposals</a> <span data-test="user-menu">demo</span></nav>'
        if logged_in
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body>"
        '<header><span data-test="sandbox-banner">Upwork sandbox — a local stand-in, not Upwork</span>'
        f"{nav}</header><main>{body}</main></body></html>"
    )


def _captcha_page() -> Response:
    body = (
        '<div id="challenge-form" data-test="captcha"><h1>Verify you are human</h1>'
        '<p>Complete the security check to continue.</p><iframe title="captcha" src="about:blank"></iframe></div>'
    )
    return Response(_layout("Just a moment...", body, logged_in=False), status="403 Forbidden")


class SandboxApp:
    """The WSGI application: routes by path, like Upwork's URL layout."""

    def __init__(self, state: SandboxState | None = None):
        self.state = state or SandboxState()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if environ.get("REQUEST_METHOD") == "POST" and self.state.receivers.handles(path):
            # Slack, Telegram and webhook stand-ins (scripts/sandbox/receivers.py).
            headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
            status, reply_headers, body = self.state.receivers.handle(path, headers, self._body(environ))
            start_response(status, reply_headers)
            return [body]
        try:
            response = self.route(environ)
        except Exception as error:  # a stand-in must answer, even about its own bugs
            response = Response(f"sandbox error: {escape(repr(error))}", status="500 Internal Server Error")
        start_response(response.status, response.headers)
        return [response.body]

    # --- request helpers ----------------------------------------------------
    @staticmethod
    def _query(environ) -> dict[str, list[str]]:
        return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)

    @staticmethod
    def _body(environ) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return environ["wsgi.input"].read(length) if length else b""

    def _username(self, environ) -> str | None:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        morsel = cookie.get(SESSION_COOKIE)
        return self.state.sessions.get(morsel.value) if morsel else None

    def _guard(self, environ) -> Response | None:
        """The CAPTCHA wall and the login wall, in the order Upwork shows them."""
        query = self._query(environ)
        if self.state.config["captcha"] or query.get("captcha") == ["1"]:
            return _captcha_page()
        with self.state.lock:
            remaining = int(self.state.config["captcha_after_pages"])
            if remaining > 0:
                # Serve this page; once the allowance is used up, every later page is a CAPTCHA wall.
                self.state.config["captcha_after_pages"] = remaining - 1
                self.state.config["captcha"] = remaining == 1
        if self._username(environ) is None:
            target = environ.get("PATH_INFO", "/")
            if environ.get("QUERY_STRING"):
                target += "?" + environ["QUERY_STRING"]
            return Response.redirect(f"{LOGIN_PATH}?redirect_url={quote(target, safe='')}")
        return None

    def route(self, environ) -> Response:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/__sandbox__/"):
            return self.control(path, method, environ)
        if path == "/favicon.ico":
            return Response("", status="404 Not Found")
        with self.state.lock:
            self.state.counters["pages"] += 1  # every request a visitor makes (not control or favicon)
        if path == GRAPHQL_PATH and method == "POST":
            return self.graphql(environ)
        if path == TOKEN_PATH and method == "POST":
            return self.token(environ)
        if path == AUTHORIZE_PATH:
            return self.authorize(environ)
        if path == LOGIN_PATH:
            return self.login(environ, method)
        if path in ("/", "/nx/find-work/"):
            blocked = self._guard(environ)
            return blocked or Response(_layout("Find work", '<h1 data-test="find-work">Find work</h1>'))
        if path == SEARCH_PATH:
            return self._guard(environ) or self.search(environ)
        if path.startswith("/jobs/~"):
            return self._guard(environ) or self.detail(path.removeprefix("/jobs/").strip("/"))
        if path.startswith("/ab/proposals/job/") and path.endswith("/apply/"):
            ciphertext = path.removeprefix("/ab/proposals/job/").removesuffix("/apply/")
            return self._guard(environ) or self.apply(environ, method, ciphertext)
        if path == PROPOSALS_PATH:
            return self._guard(environ) or self.proposals(environ)
        if path.startswith(PROPOSALS_PATH):
            return self._guard(environ) or self.confirmation(path.removeprefix(PROPOSALS_PATH).strip("/"))
        return Response(_layout("Not found", "<h1>Page not found</h1>"), status="404 Not Found")

    # --- login --------------------------------------------------------------
    def login(self, environ, method: str) -> Response:
        query = self._query(environ)
        redirect_url = (query.get("redirect_url") or ["/nx/find-work/"])[0]
        error = ""
        if method == "POST":
            form = parse_qs(self._body(environ).decode())
            username = (form.get("username") or [""])[0]
            password = (form.get("password") or [""])[0]
            redirect_url = (form.get("redirect_url") or [redirect_url])[0]
            if username == DEMO_USERNAME and password == DEMO_PASSWORD:
                value = self.state.new_session(username)
                response = Response.redirect(redirect_url if redirect_url.startswith("/") else "/nx/find-work/")
                response.headers.append(
                    ("Set-Cookie", f"{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000")
                )
                return response
            error = '<p data-test="login-error">Incorrect username or password.</p>'
        body = (
            "<h1>Log in to Upwork</h1>"
            f'<form id="login_form" method="post" action="{LOGIN_PATH}">{error}'
            f'<input type="hidden" name="redirect_url" value="{escape(redirect_url)}">'
            '<label>Username or Email <input id="login_username" name="username"></label>'
            '<label>Password <input id="login_password" name="password" type="password"></label>'
            '<button type="submit" id="login_control_continue">Log in</button></form>'
            f"<p>Sandbox login: {DEMO_USERNAME} / {DEMO_PASSWORD}</p>"
        )
        return Response(_layout("Log in - Upwork", body, logged_in=False))

    # --- pages --------------------------------------------------------------
    def search(self, environ) -> Response:
        query = self._query(environ)
        text = (query.get("q") or [""])[0]
        skills = [s for value in query.get("skills", []) for s in value.split(",") if s.strip()]
        category = (query.get("category") or [""])[0]
        try:
            page = max(1, int((query.get("page") or ["1"])[0]))
            per_page = max(1, min(50, int((query.get("per_page") or [self.state.config["per_page"]])[0])))
        except ValueError:
            return Response(_layout("Bad request", "<h1>Bad page number</h1>"), status="400 Bad Request")
        if self.state.config["broken_layout"]:
            return Response(_layout("Upwork", '<div class="maintenance"><h1>Something changed</h1></div>'))
        found = [job for job in self.state.jobs if matches(job, query=text, skills=skills, category=category)]
        chunk = found[(page - 1) * per_page : page * per_page]
        tiles = "".join(self._tile(job) for job in chunk)
        results = (
            f'<section data-test="job-search-results">{tiles}</section>'
            if chunk
            else '<section data-test="job-search-results"><p data-test="no-results">No jobs found</p></section>'
        )
        params = {k: v for k, v in (("q", text), ("skills", ",".join(skills)), ("category", category)) if v}
        nav = f'<nav data-test="pagination"><span data-test="current-page">{page}</span>'
        if page > 1:
            prev_url = f"{SEARCH_PATH}?{urlencode({**params, 'page': page - 1})}"
            nav += f'<a data-test="pagination-prev" href="{prev_url}">Prev</a>'
        if page * per_page < len(found):
            next_url = f"{SEARCH_PATH}?{urlencode({**params, 'page': page + 1})}"
            nav += f'<a data-test="pagination-next" href="{next_url}">Next</a>'
        nav += "</nav>"
        body = f'<h1>Search results</h1><p data-test="total-results">{len(found)} jobs found</p>{results}{nav}'
        return Response(_layout(f"{text or 'Jobs'} - Upwork", body))

    @staticmethod
    def _rate_label(job: SandboxJob) -> str:
        if job.job_type == "hourly":
            return f"Hourly: ${job.hourly_min:.2f} - ${job.hourly_max:.2f}"
        return f"Fixed-price - Est. budget: ${job.budget:,.2f}"

    def _tile(self, job: SandboxJob) -> str:
        skills = "".join(f'<span data-test="token">{escape(s)}</span>' for s in job.skills)
        return (
            f'<article data-test="JobTile" data-ev-job-uid="{job.ciphertext}">'
            f'<small data-test="job-pubilshed-date" data-posted="{job.posted_at.isoformat()}">'
            f"{_ago(job.posted_at)}</small>"
            f'<h2><a data-test="job-tile-title-link" href="/jobs/{job.ciphertext}">{escape(job.title)}</a></h2>'
            f'<ul><li data-test="job-type-label">{self._rate_label(job)}</li>'
            f'<li data-test="experience-level">{job.experience_level}</li></ul>'
            f'<p data-test="job-description-text">{escape(job.description[:200])}</p>'
            f'<div data-test="token-container">{skills}</div>'
            f'<span data-test="proposals-tier">Proposals: {job.proposals_tier}</span></article>'
        )

    def detail(self, ciphertext: str) -> Response:
        job = self.state.job(ciphertext)
        if job is None:
            return Response(_layout("Not found", "<h1>This job is no longer available</h1>"), status="404 Not Found")
        if job.job_type == "hourly":
            rate = f'<strong data-test="hourly-range">${job.hourly_min:.2f} - ${job.hourly_max:.2f}</strong>'
        else:
            rate = f'<strong data-test="budget">${job.budget:,.2f}</strong>'
        verified = "verified" if job.payment_verified else "not verified"
        rating = (
            f'<span data-test="client-rating">{job.client_rating:.2f} of 5</span>'
            if job.client_rating is not None
            else '<span data-test="client-rating">No reviews yet</span>'
        )
        skills = "".join(f'<li data-test="skill">{escape(s)}</li>' for s in job.skills)
        questions = (
            '<section data-test="screening-questions"><h2>You will be asked to answer the following questions '
            "when submitting a proposal:</h2><ol>"
            + "".join(f'<li data-test="screening-question">{escape(q)}</li>' for q in job.screening_questions)
            + "</ol></section>"
            if job.screening_questions
            else ""
        )
        body = (
            f'<section data-test="job-details" data-job-id="{job.ciphertext}">'
            f'<h1 data-test="job-title">{escape(job.title)}</h1>'
            f'<span data-test="posted-on" data-posted="{job.posted_at.isoformat()}">{_ago(job.posted_at)}</span>'
            f'<span data-test="category">{escape(job.category)}</span>'
            f'<div data-test="job-description">{escape(job.description)}</div>'
            '<ul data-test="job-features">'
            f'<li data-test="job-type">{"Hourly" if job.job_type == "hourly" else "Fixed-price"}</li>'
            f"<li>{rate}</li>"
            f'<li data-test="experience-level">{job.experience_level}</li>'
            f'<li data-test="duration">{job.duration}</li>'
            f'<li data-test="workload">{job.workload}</li></ul>'
            f'<ul data-test="skills">{skills}</ul>'
            f"{questions}"
            '<div data-test="client-activity">'
            f'<span data-test="proposals-tier">{job.proposals_tier}</span>'
            f'<span data-test="connects-required">Send a proposal for: {job.connects_required} Connects</span>'
            "</div>"
            '<aside data-test="about-client">'
            f'<span data-test="payment-verified">Payment method {verified}</span>'
            f"{rating}"
            f'<span data-test="client-reviews">{job.client_reviews} reviews</span>'
            f'<span data-test="client-country">{escape(job.client_country)}</span>'
            f'<span data-test="client-total-spent">{_money(job.client_total_spent)} total spent</span>'
            f'<span data-test="client-hires">{job.client_hires} hires</span>'
            "</aside>"
            f'<a data-test="apply-button" href="/ab/proposals/job/{job.ciphertext}/apply/">Apply now</a>'
            "</section>"
        )
        return Response(_layout(f"{job.title} - Upwork", body))

    # --- proposals ----------------------------------------------------------
    def apply(self, environ, method: str, ciphertext: str) -> Response:
        job = self.state.job(ciphertext)
        if job is None:
            return Response(_layout("Not found", "<h1>This job is no longer available</h1>"), status="404 Not Found")
        if any(sub["job_id"] == job.ciphertext for sub in self.state.submissions):
            body = '<p data-test="already-applied">You have already submitted a proposal for this job.</p>'
            return Response(_layout("Already applied", body), status="409 Conflict")
        if method != "POST":
            return Response(_layout("Submit a proposal", self._proposal_form(job, {}, [])))
        fields, files = _parse_multipart(environ, self._body(environ))
        values = {name: items[0] for name, items in fields.items()}
        errors = []
        form_token = values.get("form_token", "")
        with self.state.lock:
            token_ok = form_token in self.state.form_tokens
        if not token_ok:
            errors.append("The form expired; reload the page.")
        if len(values.get("cover_letter", "").strip()) < 20:
            errors.append("Cover letter must be at least 20 characters.")
        rate_field = "charge_rate" if job.job_type == "hourly" else "bid_amount"
        try:
            rate = float(values.get(rate_field, ""))
            if rate <= 0:
                raise ValueError
        except ValueError:
            rate = None
            errors.append("Enter a rate greater than zero." if job.job_type == "hourly" else "Enter a bid amount.")
        answers = {}
        for index, question in enumerate(job.screening_questions):
            answer = values.get(f"question_{index}", "").strip()
            if not answer:
                errors.append(f"Answer the question: {question}")
            answers[question] = answer
        boost = values.get("boost") == "on"
        try:
            boost_connects = int(values.get("boost_connects") or 0) if boost else 0
        except ValueError:
            boost_connects = -1
        if boost_connects < 0:
            errors.append("Boost must be a whole number of Connects.")
        needed = job.connects_required + max(boost_connects, 0)
        if needed > self.state.connects:
            errors.append(f"You need {needed} Connects; you have {self.state.connects}.")
        if errors:
            return Response(_layout("Submit a proposal", self._proposal_form(job, values, errors)))
        with self.state.lock:
            self.state.form_tokens.discard(form_token)
            self.state.connects -= needed
            reference = self.state.record_submission(
                job,
                connects_spent=needed,
                username=self._username(environ),
                cover_letter=values.get("cover_letter", ""),
                charge_rate=rate if job.job_type == "hourly" else None,
                bid_amount=rate if job.job_type == "fixed" else None,
                answers=answers,
                attachments=files,
                boost=boost,
                boost_connects=boost_connects,
            )["reference"]
        return Response.redirect(f"{PROPOSALS_PATH}{reference}/", status="303 See Other")

    def _proposal_form(self, job: SandboxJob, values: dict, errors: list[str]) -> str:
        token = secrets.token_urlsafe(16)
        with self.state.lock:
            self.state.form_tokens.add(token)
        error_html = "".join(f'<p data-test="form-error">{escape(e)}</p>' for e in errors)
        if job.job_type == "hourly":
            rate = (
                '<label>Hourly rate (USD) <input type="number" step="0.01" name="charge_rate" '
                f'data-test="charge-rate" value="{escape(values.get("charge_rate", ""))}"></label>'
                f'<p data-test="client-range">Client budget: ${job.hourly_min:.2f} - ${job.hourly_max:.2f}/hr</p>'
            )
        else:
            rate = (
                '<label>Bid (USD) <input type="number" step="0.01" name="bid_amount" '
                f'data-test="bid-amount" value="{escape(values.get("bid_amount", ""))}"></label>'
                f'<p data-test="client-budget">Client budget: ${job.budget:,.2f}</p>'
            )
        questions = "".join(
            f'<label data-test="screening-question"><span data-test="question-text">{escape(q)}</span>'
            f'<textarea name="question_{i}" data-test="question-answer">{escape(values.get(f"question_{i}", ""))}'
            "</textarea></label>"
            for i, q in enumerate(job.screening_questions)
        )
        return (
            f'<h1>Submit a proposal</h1><h2 data-test="apply-job-title">{escape(job.title)}</h2>{error_html}'
            f'<p data-test="connects-balance">Available Connects: {self.state.connects}</p>'
            f'<p data-test="connects-required">This proposal requires {job.connects_required} Connects</p>'
            f'<form id="proposal-form" method="post" enctype="multipart/form-data" '
            f'action="/ab/proposals/job/{job.ciphertext}/apply/">'
            f'<input type="hidden" name="form_token" value="{token}">{rate}'
            '<label>Cover letter <textarea name="cover_letter" data-test="cover-letter">'
            f"{escape(values.get('cover_letter', ''))}</textarea></label>"
            f'<fieldset data-test="screening-questions">{questions}</fieldset>'
            '<label>Attachments <input type="file" name="attachments" data-test="attachments" multiple></label>'
            '<fieldset data-test="boost"><label><input type="checkbox" name="boost" data-test="boost-toggle"> '
            "Boost this proposal</label>"
            '<label>Connects to bid <input type="number" name="boost_connects" data-test="boost-connects" min="0">'
            "</label></fieldset>"
            '<button type="submit" data-test="submit-proposal">Send for '
            f"{job.connects_required} Connects</button></form>"
        )

    def confirmation(self, reference: str) -> Response:
        submission = next((s for s in self.state.submissions if s["reference"] == reference), None)
        if submission is None:
            return Response(_layout("Not found", "<h1>Proposal not found</h1>"), status="404 Not Found")
        body = (
            '<h1 data-test="proposal-submitted">Your proposal was submitted</h1>'
            f'<p>Reference <span data-test="proposal-reference">{reference}</span> for '
            f'<span data-test="proposal-job-title">{escape(submission["job_title"])}</span></p>'
        )
        return Response(_layout("Proposal submitted", body))

    def proposals(self, environ=None) -> Response:
        """The freelancer's sent proposals, newest last, with what each client did (paginated when configured)."""
        with self.state.lock:
            submissions = list(self.state.submissions)
        per_page = int(self.state.config.get("proposals_per_page") or 0) or max(1, len(submissions))
        try:
            page = max(1, int((self._query(environ or {}).get("page") or ["1"])[0]))
        except ValueError:
            page = 1
        chunk = submissions[(page - 1) * per_page : page * per_page]
        refunded_total = 0
        rows = []
        for s in chunk:
            events = self.state.visible_events(s)
            refunded = sum(event.connects_refunded for event in events)
            refunded_total += refunded
            status = events[-1].kind if events else "submitted"
            history = "".join(
                f'<li data-test="proposal-event" data-kind="{e.kind}" data-at="{e.at.isoformat()}">'
                f"{OUTCOME_LABELS[e.kind]} <time>{e.at:%b %d, %Y %H:%M}</time></li>"
                for e in events
            )
            rows.append(
                f'<tr data-test="proposal-row" data-reference="{s["reference"]}" data-job-id="{s["job_id"]}" '
                f'data-status="{status}">'
                f'<td data-test="proposal-reference">{s["reference"]}</td>'
                f'<td data-test="proposal-job-title">{escape(s["job_title"])}</td>'
                f'<td data-test="proposal-status">{OUTCOME_LABELS[status]}</td>'
                f'<td data-test="proposal-submitted-at">{s["submitted_at"]}</td>'
                f'<td data-test="proposal-connects-spent">{s["connects_spent"]}</td>'
                f'<td><ul data-test="proposal-events">{history}</ul>'
                + (f'<span data-test="connects-refunded">{refunded} Connects refunded</span>' if refunded else "")
                + "</td></tr>"
            )
        next_link = (
            f'<a data-test="proposals-next-page" href="{PROPOSALS_PATH}?page={page + 1}">Next</a>'
            if page * per_page < len(submissions)
            else ""
        )
        body = (
            f'<h1>My proposals</h1><p data-test="connects-balance">Available Connects: {self.state.connects}</p>'
            f'<table data-test="proposals-list"><tbody>{"".join(rows)}</tbody></table>{next_link}'
        )
        return Response(_layout("My proposals", body))

    # --- OAuth and GraphQL stand-ins ------------------------------------------
    def authorize(self, environ) -> Response:
        """Approves at once and sends the browser back with a code, as Upwork does after consent."""
        query = {k: v[0] for k, v in self._query(environ).items()}
        if query.get("response_type") != "code" or not query.get("client_id") or not query.get("redirect_uri"):
            return Response.json({"error": "invalid_request"}, status="400 Bad Request")
        # PKCE is required here (RFC 7636, S256 only): the code is only good with the matching verifier.
        if not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
            return Response.json(
                {"error": "invalid_request", "error_description": "code_challenge with S256 required"},
                status="400 Bad Request",
            )
        code = secrets.token_urlsafe(16)
        with self.state.lock:
            self.state.auth_codes[code] = query["code_challenge"]
        params = {"code": code, **({"state": query["state"]} if query.get("state") else {})}
        separator = "&" if "?" in query["redirect_uri"] else "?"
        return Response.redirect(f"{query['redirect_uri']}{separator}{urlencode(params)}")

    def token(self, environ) -> Response:
        form = {k: v[0] for k, v in parse_qs(self._body(environ).decode()).items()}
        with self.state.lock:
            self.state.counters["token"] += 1
            client_id = (
                form.get("client_id")
                or (base64.b64decode(environ.get("HTTP_AUTHORIZATION", "Basic ")[6:] or b"").decode().split(":")[0])
            )
            if not client_id:
                return Response.json({"error": "invalid_client"}, status="401 Unauthorized")
            grant = form.get("grant_type")
            if grant == "authorization_code" and form.get("code") in self.state.auth_codes:
                challenge = self.state.auth_codes.pop(form["code"])  # a code is good once, verifier or not
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if verifier and secrets.compare_digest(digest, challenge):
                    return Response.json(self.state.issue_tokens())
                return Response.json(
                    {"error": "invalid_grant", "error_description": "code_verifier does not match"},
                    status="400 Bad Request",
                )
            if grant == "refresh_token" and form.get("refresh_token") in self.state.refresh_tokens:
                self.state.refresh_tokens.discard(form["refresh_token"])  # refresh tokens rotate
                return Response.json(self.state.issue_tokens())
        return Response.json({"error": "invalid_grant"}, status="400 Bad Request")

    def graphql(self, environ) -> Response:
        with self.state.lock:
            self.state.counters["graphql"] += 1
            if self.state.config["rate_limit_remaining"] > 0:
                self.state.config["rate_limit_remaining"] -= 1
                response = Response.json({"message": "Too Many Requests"}, status="429 Too Many Requests")
                response.headers.append(("Retry-After", str(self.state.config["rate_limit_retry_after"])))
                return response
            token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
            expires = self.state.access_tokens.get(token)
            if expires is None or expires <= datetime.now(UTC):
                return Response.json(
                    {"message": "Unauthorized: access token invalid or expired"}, status="401 Unauthorized"
                )
            if self.state.config["graphql_error"]:
                return Response.json({"data": None, "errors": [{"message": self.state.config["graphql_error"]}]})
        try:
            request = json.loads(self._body(environ) or b"{}")
        except ValueError:
            return Response.json({"errors": [{"message": "Body must be JSON."}]}, status="400 Bad Request")
        if "vendorProposals" in request.get("query", ""):
            return self.vendor_proposals(request.get("variables") or {})
        if "marketplaceJobPostingsSearch" not in request.get("query", ""):
            return Response.json(
                {"data": None, "errors": [{"message": "The sandbox answers only job searches and vendorProposals."}]}
            )
        variables = request.get("variables") or {}
        search = variables.get("marketPlaceJobFilter") or {}
        pagination = search.get("pagination_eq") or {}
        first = max(1, min(50, int(pagination.get("first") or 10)))
        offset = _decode_cursor(pagination.get("after"))
        skills = [s.strip() for s in (search.get("skillExpression_eq") or "").split(",") if s.strip()]
        category = (search.get("categoryIds_any") or [""])[0]
        with self.state.lock:
            jobs = list(self.state.jobs)  # the publisher inserts postings from its own thread
        found = [
            job
            for job in jobs
            if matches(job, query=search.get("searchExpression_eq") or "", skills=skills, category=category)
        ]
        chunk = found[offset : offset + first]
        edges = [{"node": _node(job), "cursor": _encode_cursor(offset + i + 1)} for i, job in enumerate(chunk)]
        has_next = offset + first < len(found)
        return Response.json(
            {
                "data": {
                    "marketplaceJobPostingsSearch": {
                        "totalCount": len(found),
                        "edges": edges,
                        "pageInfo": {"hasNextPage": has_next, "endCursor": _encode_cursor(offset + len(chunk))},
                    }
                }
            }
        )

    def vendor_proposals(self, variables: dict) -> Response:
        """The freelancer's proposals with their status, as the API reports them (no "viewed", no history)."""
        pagination = variables.get("pagination") or {}
        first = max(1, min(50, int(pagination.get("first") or 50)))
        offset = _decode_cursor(pagination.get("after"))
        with self.state.lock:
            submissions = list(self.state.submissions)
        chunk = submissions[offset : offset + first]
        edges = []
        for i, submission in enumerate(chunk):
            events = [e for e in self.state.visible_events(submission) if e.kind in API_STATUSES]
            latest = events[-1] if events else None
            edges.append(
                {
                    "cursor": _encode_cursor(offset + i + 1),
                    "node": {
                        "id": submission["reference"],
                        "marketplaceJobPosting": {"id": submission["job_id"], "ciphertext": submission["job_id"]},
                        "status": {"status": API_STATUSES[latest.kind] if latest else "PENDING"},
                        "auditDetails": {
                            "createdDateTime": {"rawValue": submission["submitted_at"]},
                            "modifiedDateTime": {
                                "rawValue": (latest.at.isoformat() if latest else submission["submitted_at"])
                            },
                        },
                        "connectsSpent": submission["connects_spent"],
                        "connectsRefunded": sum(e.connects_refunded for e in events),
                    },
                }
            )
        has_next = offset + first < len(submissions)
        return Response.json(
            {
                "data": {
                    "vendorProposals": {
                        "totalCount": len(submissions),
                        "edges": edges,
                        "pageInfo": {"hasNextPage": has_next, "endCursor": _encode_cursor(offset + len(chunk))},
                    }
                }
            }
        )

    # --- control endpoints for tests and demos --------------------------------
    def control(self, path: str, method: str, environ) -> Response:
        action = path.removeprefix("/__sandbox__/").strip("/")
        if action == "notifications" or action.startswith("notifications/"):
            return self.notifications_control(action, method, environ)
        if action == "submissions":
            return Response.json(self.state.submissions)
        if action == "outcomes" and method == "GET":
            now = self.state.now()
            return Response.json(
                {
                    "now": now.isoformat(),
                    "proposals": {
                        s["reference"]: [
                            {
                                "kind": e.kind,
                                "at": e.at.isoformat(),
                                "connects_refunded": e.connects_refunded,
                                "visible": e.at <= now,
                            }
                            for e in self.state.timeline(s)
                        ]
                        for s in self.state.submissions
                    },
                }
            )
        if action == "postings":
            with self.state.lock:
                return Response.json(list(self.state.published))
        if action == "state":
            return Response.json(
                {"config": self.state.config, "counters": self.state.counters, "connects": self.state.connects}
            )
        if method != "POST" and action != "storage-state":
            return Response.json({"error": "use POST"}, status="405 Method Not Allowed")
        if action == "config":
            changes = json.loads(self._body(environ) or b"{}")
            unknown = set(changes) - set(DEFAULT_CONFIG)
            if unknown:
                return Response.json({"error": f"unknown keys: {sorted(unknown)}"}, status="400 Bad Request")
            with self.state.lock:
                self.state.config.update(changes)
            if {"new_posting_every", "new_posting_seed", "new_posting_limit"} & set(changes):
                self.state.restart_publisher()
            return Response.json(self.state.config)
        if action == "post-job":
            return Response.json(self.state.publish_posting())
        if action == "reset":
            self.state.reset()
            return Response.json(self.state.config)
        if action == "outcomes":
            return self._script_outcomes(json.loads(self._body(environ) or b"{}"))
        if action == "logout-all":
            with self.state.lock:
                self.state.sessions.clear()
            return Response.json({"sessions": 0})
        if action == "expire-tokens":
            self.state.expire_access_tokens()
            return Response.json({"expired": len(self.state.access_tokens)})
        if action == "storage-state":
            host = environ.get("HTTP_HOST", "127.0.0.1").split(":")[0]
            return Response.json(storage_state_for(self.state.new_session(), host=host))
        return Response.json({"error": "unknown action"}, status="404 Not Found")

    def _script_outcomes(self, body: dict) -> Response:
        """Replace the simulated client of one sent proposal: {"reference", "events": [{"kind", "after_hours",
        "connects_refunded"}]} (hours after its submission)."""
        reference = body.get("reference")
        submission = next((s for s in self.state.submissions if s["reference"] == reference), None)
        if submission is None:
            return Response.json({"error": f"no proposal {reference!r}"}, status="400 Bad Request")
        start = datetime.fromisoformat(submission["submitted_at"])
        events = []
        for item in body.get("events") or []:
            if item.get("kind") not in (*OUTCOME_KINDS, "withdrawn"):
                return Response.json({"error": f"unknown kind {item.get('kind')!r}"}, status="400 Bad Request")
            events.append(
                ClientEvent(
                    item["kind"],
                    (start + timedelta(hours=float(item.get("after_hours", 0)))).replace(microsecond=0),
                    int(item.get("connects_refunded") or 0),
                )
            )
        with self.state.lock:
            self.state.scripted_outcomes[reference] = sorted(events, key=lambda event: event.at)
        return Response.json({"reference": reference, "events": len(events)})

    def notifications_control(self, action: str, method: str, environ) -> Response:
        receivers = self.state.receivers
        if action == "notifications" and method == "GET":
            with receivers.lock:
                return Response.json(list(receivers.received))
        if action.endswith("/preview") and method == "GET":
            record_id = action.removeprefix("notifications/").removesuffix("/preview")
            page = receivers.preview(int(record_id)) if record_id.isdigit() else None
            return Response(page) if page else Response.json({"error": "no such message"}, status="404 Not Found")
        if method != "POST":
            return Response.json({"error": "use POST"}, status="405 Method Not Allowed")
        if action == "notifications/reset":
            receivers.reset()
            return Response.json({"received": 0})
        if action == "notifications/fail":
            rule = json.loads(self._body(environ) or b"{}")
            if not isinstance(rule, dict) or not str(rule.get("path_prefix", "")).startswith("/"):
                return Response.json({"error": "give path_prefix, status and times"}, status="400 Bad Request")
            failure = {
                "path_prefix": rule["path_prefix"],
                "status": int(rule.get("status", 500)),
                "times": int(rule.get("times", 1)),
                "retry_after": rule.get("retry_after"),
                "message": str(rule.get("message", "")),
            }
            with receivers.lock:
                receivers.failures.append(failure)
            return Response.json(failure)
        return Response.json({"error": "unknown action"}, status="404 Not Found")


def storage_state_for(session_value: str, *, host: str = "127.0.0.1") -> dict:
    """A Playwright storage state holding one logged-in sandbox session cookie."""
    expires = int((datetime.now(UTC) + timedelta(days=30)).timestamp())
    cookie = {
        "name": SESSION_COOKIE,
        "value": session_value,
        "domain": host,
        "path": "/",
        "expires": expires,
        "httpOnly": True,
        "secure": False,
        "sameSite": "Lax",
    }
    return {"cookies": [cookie], "origins": []}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":")[1]))
    except (ValueError, IndexError):
        return 0


def _node(job: SandboxJob) -> dict:
    """A job as Upwork's GraphQL API shapes a MarketplaceJobPosting."""
    return {
        "id": job.numeric_id,
        "ciphertext": job.ciphertext,
        "title": job.title,
        "description": job.description,
        "createdDateTime": job.posted_at.isoformat().replace("+00:00", "Z"),
        "publishedDateTime": job.posted_at.isoformat().replace("+00:00", "Z"),
        "category": job.category,
        "skills": [{"name": s.lower().replace(" ", "-"), "prettyName": s} for s in job.skills],
        "experienceLevel": {"Entry level": "ENTRY_LEVEL", "Intermediate": "INTERMEDIATE", "Expert": "EXPERT"}[
            job.experience_level
        ],
        "duration": job.duration,
        "engagement": job.workload,
        "job": {"contractTerms": {"contractType": "HOURLY" if job.job_type == "hourly" else "FIXED"}},
        "amount": {"rawValue": str(job.budget) if job.budget is not None else "0.0", "currency": "USD"},
        "hourlyBudgetMin": {"rawValue": str(job.hourly_min)} if job.hourly_min is not None else None,
        "hourlyBudgetMax": {"rawValue": str(job.hourly_max)} if job.hourly_max is not None else None,
        "totalApplicants": job.applicants_estimate,
        "connectPrice": job.connects_required,
        "contractorSelection": {
            "proposalRequirement": {
                "screeningQuestions": [
                    {"question": question, "sequenceNumber": number}
                    for number, question in enumerate(job.screening_questions, 1)
                ]
            }
        },
        "client": {
            "location": {"country": job.client_country},
            "verificationStatus": "VERIFIED" if job.payment_verified else "NOT_VERIFIED",
            "totalSpent": {"rawValue": str(job.client_total_spent), "currency": "USD"},
            "totalHires": job.client_hires,
            "totalFeedback": job.client_rating,
            "totalReviews": job.client_reviews,
        },
    }


def _parse_multipart(environ, body: bytes) -> tuple[dict[str, list[str]], list[dict]]:
    """Split a multipart/form-data body into text fields and uploaded files (name, size, digest)."""
    content_type = environ.get("CONTENT_TYPE", "")
    if not content_type.startswith("multipart/form-data"):
        return parse_qs(body.decode(), keep_blank_values=True), []
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    )
    fields: dict[str, list[str]] = {}
    files: list[dict] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename is not None:
            if filename or payload:
                files.append(
                    {
                        "field": name,
                        "filename": filename,
                        "content_type": part.get_content_type(),
                        "size": len(payload),
                        "sha256": hashlib.sha256(payload).hexdigest(),
                    }
                )
        elif name:
            fields.setdefault(name, []).append(payload.decode(part.get_content_charset() or "utf-8"))
    return fields, files


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


class SandboxServer:
    """A running sandbox: its URL, its state, and stop()."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None):
        self.app = SandboxApp(state)
        self.httpd = make_server(host, port, self.app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> SandboxState:
        return self.app.state

    def start(self) -> SandboxServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="upwork-sandbox", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread:
            self.thread.join(timeout=5)


def start_sandbox(*, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    """Start the sandbox in a background thread (port 0 picks a free port)."""
    return SandboxServer(host=host, port=port).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local Upwork sandbox (a stand-in, not Upwork).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    server = SandboxServer(host=args.host, port=args.port)
    server.httpd.verbose = args.verbose
    print(f"Upwork sandbox on {server.url} (login {DEMO_USERNAME} / {DEMO_PASSWORD}); Ctrl-C stops it.")
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
