"""Test settings: names of this run's own (database, Redis), fast retries.

A test run marks itself with TEST_RUN_ID, inherited by every process it starts: the test database is named after
it, so two runs side by side never share one, and the session fails if a process carrying it outlives the run
(tests/conftest.py). The session starts a private Redis unless TEST_REDIS_URL is given (tests/conftest.py).
"""

import os
import secrets

from upwork_automation.settings.base import *  # noqa: F403
from upwork_automation.settings.base import DATABASES, TASK_PRIORITIES, env

TEST_RUN_ID = os.environ.setdefault("TEST_RUN_ID", f"{os.getpid()}_{secrets.token_hex(3)}")
if (xdist_worker := os.environ.get("PYTEST_XDIST_WORKER")) and not TEST_RUN_ID.endswith(f"_{xdist_worker}"):
    TEST_RUN_ID = os.environ["TEST_RUN_ID"] = f"{TEST_RUN_ID}_{xdist_worker}"  # `make test` runs workers in parallel
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{TEST_RUN_ID}"}

# Replaced by the session's private Redis (tests/conftest.py) unless TEST_REDIS_URL names one; tests flush it.
REDIS_URL = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600} for name in [*TASK_PRIORITIES, "default"]}
RETRY_BACKOFF_BASE = env.float("RETRY_BACKOFF_BASE", default=1.0)
# Between transactional tests Django's flush TRUNCATEs every table, the audit log included: the audit log's
# TRUNCATE trigger (queue_app migration 0010) lets these test connections through, and no other.
for _database in DATABASES.values():
    _options = _database.setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c upwork.allow_audit_truncate=on".strip()
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
