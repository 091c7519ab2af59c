"""The jobs app's settings: read when called, from Django settings first, then the environment, then a default.

The lead merges the matching block into upwork_automation/settings/base.py; until then (and in worker
processes started with extra environment variables) the environment is honoured here.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from django.conf import settings

UPWORK_WEB_DEFAULT = "https://www.upwork.com"

# name: (cast, default)
_DEFAULTS: dict[str, tuple[type, Any]] = {
    "UPWORK_BASE_URL": (str, UPWORK_WEB_DEFAULT),
    "UPWORK_API_URL": (str, ""),  # "" = derived from UPWORK_BASE_URL
    "UPWORK_TOKEN_URL": (str, ""),
    "UPWORK_AUTHORIZE_URL": (str, ""),
    "UPWORK_CLIENT_ID": (str, ""),
    "UPWORK_CLIENT_SECRET": (str, ""),
    "UPWORK_REDIRECT_URI": (str, "http://127.0.0.1:8000/api/jobs/oauth/callback/"),
    "UPWORK_API_TIMEOUT": (float, 30.0),
    "UPWORK_API_PAGE_SIZE": (int, 10),
    "UPWORK_API_MAX_PAGES": (int, 5),
    "UPWORK_API_RATE_LIMIT_RETRIES": (int, 2),
    "UPWORK_API_MAX_RETRY_WAIT": (float, 60.0),
    "FIELD_ENCRYPTION_KEY": (str, ""),
    "JOBS_STRATEGY_CONCURRENCY": (int, 2),
    "JOBS_BROWSER_EXECUTABLE": (str, "/usr/bin/chromium"),
    "JOBS_BROWSER_HEADLESS": (bool, True),
    "JOBS_BROWSER_DELAY_MIN": (float, 2.0),
    "JOBS_BROWSER_DELAY_MAX": (float, 6.0),
    "JOBS_BROWSER_MAX_PAGES": (int, 3),
    "JOBS_BROWSER_MAX_DETAILS": (int, 20),
    "JOBS_BROWSER_NAV_TIMEOUT": (float, 30.0),
    "JOBS_BROWSER_MAX_AGE": (int, 3600),
    "JOBS_SESSION_DEFAULT_DAYS": (int, 30),
    "JOBS_SESSION_PURGE_DAYS": (int, 30),
}


def _cast(kind: type, raw: Any) -> Any:
    if kind is bool and isinstance(raw, str):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return kind(raw)


def get(name: str) -> Any:
    kind, default = _DEFAULTS[name]
    if hasattr(settings, name):
        return _cast(kind, getattr(settings, name))
    if name in os.environ:
        return _cast(kind, os.environ[name])
    return default


def base_url() -> str:
    return get("UPWORK_BASE_URL").rstrip("/")


def _is_real_upwork() -> bool:
    return urlparse(base_url()).hostname in {"www.upwork.com", "upwork.com"}


def api_url() -> str:
    """The GraphQL endpoint: Upwork's api host for the real site, <base>/graphql for a stand-in."""
    explicit = get("UPWORK_API_URL")
    if explicit:
        return explicit
    return "https://api.upwork.com/graphql" if _is_real_upwork() else f"{base_url()}/graphql"


def token_url() -> str:
    return get("UPWORK_TOKEN_URL") or f"{base_url()}/api/v3/oauth2/token"


def authorize_url() -> str:
    return get("UPWORK_AUTHORIZE_URL") or f"{base_url()}/ab/account-security/oAuth2/authorize"
