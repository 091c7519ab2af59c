"""Errors of job discovery: which ones a retry can fix, and which need a person."""

from __future__ import annotations

from core.errors import ApplicationError, PermanentTaskError


class SourceError(ApplicationError):
    """A search source failed; `retryable` says whether trying again later can help."""

    code = "source_error"
    status_code = 502
    retryable = True


class NeedsAttention(SourceError):
    """The browser met a CAPTCHA, a login wall or an unexpected page. A person must look; never retry blindly."""

    code = "needs_attention"
    status_code = 409
    retryable = False

    def __init__(self, message: str, *, reason: str, url: str = ""):
        super().__init__(message)
        self.reason = reason
        self.url = url
        self.session_id: int | None = None  # the browser session now flagged (set by jobs.services.search_run)
        self.saved = 0  # jobs read before the wall and stored anyway


class DiscoveryBlocked(PermanentTaskError):
    """A wall stopped a discovery task: it fails at once, without retries, saying what a person must do."""

    def __init__(self, wall: NeedsAttention, *, task_id: str):
        self.wall = wall
        where = f" at {wall.url}" if wall.url else ""
        session = f"Browser session {wall.session_id}" if wall.session_id is not None else "The browser session"
        reactivate = (
            f"POST /api/jobs/sessions/{wall.session_id}/reactivate/"
            if wall.session_id is not None
            else "POST /api/jobs/sessions/<id>/reactivate/"
        )
        super().__init__(
            f"Job discovery stopped ({wall.reason}): {wall.message.rstrip('.')}{where}. "
            f"{wall.saved} job(s) read before the stop were saved. "
            f"{session} is marked needs attention and is not used until a person reactivates it. "
            "To resume: open that page in a browser logged in to the same Upwork account and clear it "
            "(after a login wall, import a fresh session instead: "
            "manage.py jobs import-session --file state.json --name NAME --replace); "
            f"then mark the session active again ({reactivate}, or the admin action "
            "'Mark active again' under Jobs > Browser sessions) and retry this task "
            f"(manage.py queue retry {task_id})."
        )


class NoUsableSession(SourceError):
    code = "no_browser_session"
    status_code = 409
    retryable = False


class ApiAuthError(SourceError):
    """The API refused our tokens and a refresh did not help: reconnect the Upwork account."""

    code = "upwork_auth"
    status_code = 409
    retryable = False


class ApiRateLimited(SourceError):
    code = "upwork_rate_limited"
    status_code = 429
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ApiError(SourceError):
    code = "upwork_api_error"
