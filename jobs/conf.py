"""Upwork addresses derived from the jobs settings (upwork_automation/settings/base.py), read when called."""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings


def base_url() -> str:
    return settings.UPWORK_BASE_URL.rstrip("/")


def _is_real_upwork() -> bool:
    return urlparse(base_url()).hostname in {"www.upwork.com", "upwork.com"}


def api_url() -> str:
    """The GraphQL endpoint: Upwork's api host for the real site, <base>/graphql for a stand-in."""
    if settings.UPWORK_API_URL:
        return settings.UPWORK_API_URL
    return "https://api.upwork.com/graphql" if _is_real_upwork() else f"{base_url()}/graphql"


def token_url() -> str:
    return settings.UPWORK_TOKEN_URL or f"{base_url()}/api/v3/oauth2/token"


def authorize_url() -> str:
    return settings.UPWORK_AUTHORIZE_URL or f"{base_url()}/ab/account-security/oAuth2/authorize"
