"""Google Docs export facts derived from the proposals settings (settings/base.py), read when called."""

from __future__ import annotations

from django.conf import settings


def google_configured() -> bool:
    return bool(settings.GOOGLE_SERVICE_ACCOUNT_FILE and settings.GOOGLE_DRIVE_FOLDER_ID)


def share_with() -> list[str]:
    return [item.strip() for item in settings.GOOGLE_SHARE_WITH.split(",") if item.strip()]
