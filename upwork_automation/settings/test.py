"""Test settings: a separate Redis database (flushed by the tests) and fast retries."""

import os

from upwork_automation.settings.base import *  # noqa: F403
from upwork_automation.settings.base import TASK_PRIORITIES, env

# Never the development Redis database: tests flush this one.
REDIS_URL = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600} for name in [*TASK_PRIORITIES, "default"]}
RETRY_BACKOFF_BASE = env.float("RETRY_BACKOFF_BASE", default=1.0)
# Between transactional tests Django's flush TRUNCATEs every table, the audit log included: the audit log's
# TRUNCATE trigger (queue_app migration 0010) lets these test connections through, and no other.
for _database in DATABASES.values():  # noqa: F405
    _options = _database.setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c upwork.allow_audit_truncate=on".strip()
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
