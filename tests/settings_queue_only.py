"""Test settings without the product: the queue (queue_app) installed on its own, as another project would.

Used by tests/queue_app/test_product_agnostic.py; everything that names a domain app is dropped.
"""

from upwork_automation.settings.test import *  # noqa: F403
from upwork_automation.settings.test import INSTALLED_APPS, SPECTACULAR_SETTINGS

DOMAIN_APPS = ("jobs", "proposals", "applications", "notifications")

INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in DOMAIN_APPS]
ROOT_URLCONF = "tests.urls_queue_only"
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "ENUM_NAME_OVERRIDES": {
        name: path
        for name, path in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].items()
        if not path.startswith(tuple(f"{app}." for app in DOMAIN_APPS))
    },
}
