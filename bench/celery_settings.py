"""Settings of the bench's Celery peer with results (bench/celery_app.py): the product's, plus django-celery-results.

Used only by bench/throughput.py's `celery_results` run (the worker process and the migrate of the
bench database); the product never loads Celery. The `celery_no_results` run uses
bench/celery_plain.py, which loads no Django at all.
"""

from upwork_automation.settings.base import *  # noqa: F403
from upwork_automation.settings.base import DATABASES, INSTALLED_APPS, REDIS_URL

INSTALLED_APPS = [*INSTALLED_APPS, "django_celery_results"]
# The worker keeps its database connection between tasks, as the product's workers do.
DATABASES["default"]["CONN_MAX_AGE"] = None
CELERY_BROKER_URL = REDIS_URL  # the same Redis server and database as the RQ runs
CELERY_RESULT_BACKEND = "django-db"
CELERY_TASK_DEFAULT_QUEUE = "bench_celery"
CELERY_TASK_ACKS_LATE = False  # ack on receipt, Celery's default
# Celery's optimizing guide: a large prefetch multiplier for many short tasks (one broker
# round trip feeds many tasks); no task here has a rate limit.
CELERY_WORKER_PREFETCH_MULTIPLIER = 128
CELERY_WORKER_DISABLE_RATE_LIMITS = True
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
