"""The applications app's safety settings, as shown by the API and the admin; defined in upwork_automation/settings.

Every default there is the safe one: nothing is submitted until APPLICATIONS_ENABLED is turned on, and then
only what a person approved, within the caps.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

SAFETY_SETTINGS = (
    "APPLICATIONS_ENABLED",
    "APPLICATIONS_REQUIRE_APPROVAL",
    "APPLICATIONS_DRY_RUN",
    "APPLICATIONS_DAILY_CAP",
    "APPLICATIONS_MIN_GAP_SECONDS",
    "APPLICATIONS_GAP_JITTER_SECONDS",
    "APPLICATIONS_MONTHLY_CONNECTS_BUDGET",
    "APPLICATIONS_MAX_CONNECTS_PER_JOB",
    "APPLICATIONS_BOOST_ENABLED",
    "APPLICATIONS_MAX_BOOST_CONNECTS",
    "APPLICATIONS_VERIFY_DELAY_SECONDS",
    "APPLICATIONS_REQUIRE_SECOND_APPROVER",
)


def safety_settings() -> dict[str, Any]:
    """Every safety knob with its current value (read when called)."""
    return {name: getattr(settings, name) for name in SAFETY_SETTINGS}
