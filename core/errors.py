"""Application errors: one base with a code and an HTTP status, turned into JSON by the API."""

from __future__ import annotations


class ApplicationError(Exception):
    code = "error"
    status_code = 400

    def __init__(self, message: str, *, field_errors: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
        if code:
            self.code = code


class ValidationFailed(ApplicationError):
    code = "invalid"
    status_code = 400


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404


class PermissionRefused(ApplicationError):
    """The caller may not do this (a rule such as separation of duties), whatever the input."""

    code = "forbidden"
    status_code = 403


class InvalidTransition(ApplicationError):
    code = "invalid_transition"
    status_code = 409


class PermanentTaskError(Exception):
    """Raised by a task handler when retrying cannot help (bad input, a 4xx from an outside service).

    The task fails at once, whatever retries it has left; any other exception is retried.
    """
