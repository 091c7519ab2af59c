"""The proposals app's settings: read when called, from Django settings first, then the environment, then a default.

Worker processes started with extra environment variables see them here even when
upwork_automation/settings does not name the setting.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from django.conf import settings

# name: (cast, default)
_DEFAULTS: dict[str, tuple[type, Any]] = {
    "OPENAI_API_KEY": (str, ""),
    "OPENAI_MODEL": (str, "gpt-4o-mini"),
    "OPENAI_BASE_URL": (str, ""),  # "" = the client's default (api.openai.com)
    "OPENAI_TIMEOUT": (float, 60.0),
    "OPENAI_DAILY_COST_CAP_USD": (Decimal, Decimal("5.00")),
    "OPENAI_PRICE_INPUT_PER_1K": (Decimal, Decimal("0.00015")),
    "OPENAI_PRICE_OUTPUT_PER_1K": (Decimal, Decimal("0.0006")),
    "PROPOSAL_GENERATOR": (str, "openai"),  # openai | template
    "PROPOSAL_WORD_LIMIT": (int, 250),
    "PROPOSAL_MAX_ATTACHMENTS": (int, 3),
    "PROPOSAL_BATCH_CONCURRENCY": (int, 5),
    "PROPOSAL_BATCH_MIN_SCORE": (int, 60),
    "GOOGLE_SERVICE_ACCOUNT_FILE": (str, ""),
    "GOOGLE_DRIVE_FOLDER_ID": (str, ""),
    "GOOGLE_SHARE_WITH": (str, ""),  # comma-separated e-mails, or "anyone"
    "GOOGLE_SHARE_ROLE": (str, "commenter"),
    "GOOGLE_API_NUM_RETRIES": (int, 3),
}


def _cast(kind: type, raw: Any) -> Any:
    if kind is bool and isinstance(raw, str):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind is Decimal:
        return Decimal(str(raw))
    return kind(raw)


def get(name: str) -> Any:
    kind, default = _DEFAULTS[name]
    if hasattr(settings, name):
        return _cast(kind, getattr(settings, name))
    if name in os.environ:
        return _cast(kind, os.environ[name])
    return default


def google_configured() -> bool:
    return bool(get("GOOGLE_SERVICE_ACCOUNT_FILE") and get("GOOGLE_DRIVE_FOLDER_ID"))


def share_with() -> list[str]:
    return [item.strip() for item in get("GOOGLE_SHARE_WITH").split(",") if item.strip()]
