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
)


# The knobs an operator may flip at run time (queue_app.switches; admin "Runtime switches"): the setting of the
# same name is only the default. Declared in ApplicationsConfig.ready().
SWITCHES = {
    "APPLICATIONS_ENABLED": "applications.enabled",
    "APPLICATIONS_DRY_RUN": "applications.dry_run",
    "APPLICATIONS_DAILY_CAP": "applications.daily_cap",
}


def setting(name: str) -> Any:
    """The one accessor for a safety knob: the runtime switch when it is one, else the setting (read when called)."""
    from queue_app.switches import switch_value

    key = SWITCHES.get(name)
    return switch_value(key) if key else getattr(settings, name)


def enabled() -> bool:
    return setting("APPLICATIONS_ENABLED")


def dry_run() -> bool:
    return setting("APPLICATIONS_DRY_RUN")


def daily_cap() -> int:
    return setting("APPLICATIONS_DAILY_CAP")


def safety_settings() -> dict[str, Any]:
    """Every safety knob with its current value (runtime switches included; read when called)."""
    return {name: setting(name) for name in SAFETY_SETTINGS}
