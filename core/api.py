"""One JSON error shape for the whole API: {"error": {"code", "message", "field_errors"}}."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError

logger = logging.getLogger(__name__)


def _error(code: str, message: str, http_status: int, field_errors: dict | None = None, headers=None) -> Response:
    body = {"error": {"code": code, "message": message, "field_errors": field_errors or {}}}
    return Response(body, status=http_status, headers=headers)


def _too_large_message() -> str:
    return (
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)."
    )


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return _error("payload_too_large", _too_large_message(), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, ApplicationError):
        return _error(exc.code, exc.message, exc.status_code, exc.field_errors)
    if isinstance(exc, DataError):
        # Input PostgreSQL cannot store (a NUL character in text or JSON, a number out of range) that
        # validation let through: the client's data, so a 400, not a 500.
        logger.warning("Database refused request data: %s", exc)
        return _error("invalid", "A value cannot be stored (e.g. a NUL character or a number out of range).", 400)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return _error("invalid", "Invalid input.", status.HTTP_400_BAD_REQUEST, fields)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return _error("invalid", "Invalid input.", response.status_code, detail, headers=response.headers)
    detail = getattr(exc, "detail", str(exc))
    code = getattr(exc, "default_code", "error")
    if hasattr(exc, "get_codes"):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else code
    response.data = {"error": {"code": code, "message": str(detail), "field_errors": {}}}
    return response


class ApiBodySizeLimitMiddleware:
    """An /api/ request whose body is over DATA_UPLOAD_MAX_MEMORY_SIZE answers 413 in the error shape.

    Django applies that limit only to form bodies it parses itself; DRF's JSON parser reads the
    stream unchecked, so the declared length is checked here before anything reads the body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if limit is not None and request.content_type == "multipart/form-data":
                # A file part streams to disk and Django counts only the other fields against the limit.
                limit += settings.ATTACHMENT_MAX_BYTES
            if limit is not None and length > limit:
                return _too_large_response()
            try:
                return self.get_response(request)
            except RequestDataTooBig:
                return _too_large_response()
        return self.get_response(request)


def _too_large_response() -> JsonResponse:
    body = {"error": {"code": "payload_too_large", "message": _too_large_message(), "field_errors": {}}}
    return JsonResponse(body, status=413)


# --- OpenAPI: the error shape on every operation (drf-spectacular postprocessing hook) ---

ERROR_RESPONSES = {
    "400": "Invalid input: field_errors names the fields.",
    "401": "No or bad credentials (send 'Authorization: Token KEY', or log in for a session).",
    "403": "Authenticated, but the role does not allow it (viewer is read-only), or CSRF failed.",
    "404": "No such object.",
    "409": "The object's state does not allow this transition.",
    "413": "The request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE.",
    "415": "Unsupported media type: send JSON.",
    "429": "Too many requests for this user; see Retry-After.",
}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field_errors": {"type": "object", "additionalProperties": True},
            },
            "required": ["code", "message", "field_errors"],
        }
    },
    "required": ["error"],
}


def add_error_responses(result, generator, request, public):
    """Document the one error shape for every error status an operation can answer."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_RESPONSES.items():
                responses.setdefault(code, {"description": description, "content": reference})
    return result


# --- 404 and 500 outside DRF views (no URL matched, or a crash): JSON under /api/ ---------------------


def page_not_found(request, exception=None):
    """handler404: the error shape for /api/ URLs that match no route; Django's page elsewhere."""
    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": f"No API endpoint at {request.path}.", "field_errors": {}}}
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: the error shape for /api/ URLs (details go to the log, never to the client)."""
    if request.path.startswith("/api/"):
        body = {"error": {"code": "server_error", "message": "Internal server error.", "field_errors": {}}}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)


class ApiPagination(LimitOffsetPagination):
    """?limit=&offset= pages; a limit above max_limit is cut to it, an offset past any table is clamped."""

    max_limit = 1000
    max_offset = 2**40

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), self.max_offset)
