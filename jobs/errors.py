"""Errors of job discovery: which ones a retry can fix, and which need a person."""

from __future__ import annotations

from queue_app.errors import ApplicationError


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
