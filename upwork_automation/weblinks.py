"""Links we store or render: http(s) only, so a `javascript:` or `data:` URL never becomes a clickable link."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

HTTP_SCHEMES = ("http", "https")

validate_http_url = URLValidator(schemes=list(HTTP_SCHEMES), message="Enter an http:// or https:// URL.")


def is_http_url(value: str | None) -> bool:
    """Whether `value` is a well-formed http(s) URL (what we link to)."""
    if not value:
        return False
    try:
        validate_http_url(value)
    except ValidationError:
        return False
    return True
