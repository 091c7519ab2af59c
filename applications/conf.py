"""The applications app's safety settings: read when called, from Django settings, then the environment, then a default.

Every default is the safe one: nothing is submitted until APPLICATIONS_ENABLED is turned on, and then only
what a person approved, within the caps.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from django.conf import settings

# name: (cast, default)
_DEFAULTS: dict[str, tuple[type, Any]] = {
    "APPLICATIONS_ENABLED": (bool, False),  # the kill switch: off = nothing is submitted
    "APPLICATIONS_REQUIRE_APPROVAL": (bool, True),
    "APPLICATIONS_DRY_RUN": (bool, False),  # fill the form and screenshot it, never click submit
    "APPLICATIONS_DAILY_CAP": (int, 10),
    "APPLICATIONS_MIN_GAP_SECONDS": (float, 900.0),
    "APPLICATIONS_GAP_JITTER_SECONDS": (float, 600.0),
    "APPLICATIONS_MONTHLY_CONNECTS_BUDGET": (int, 100),
    "APPLICATIONS_MAX_CONNECTS_PER_JOB": (int, 16),
    "APPLICATIONS_BOOST_ENABLED": (bool, False),
    "APPLICATIONS_MAX_BOOST_CONNECTS": (int, 0),
    "APPLICATIONS_VERIFY_DELAY_SECONDS": (float, 120.0),
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


def safety_settings() -> dict[str, Any]:
    """Every safety knob with its current value (shown by the API and the admin)."""
    return {name: get(name) for name in _DEFAULTS}
