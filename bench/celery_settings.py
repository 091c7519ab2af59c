"""Settings of the bench's Celery peer (bench/celery_app.py): the product's, plus django-celery-results.

Used only by bench/throughput.py's Celery runs (the worker process and the migrate of the bench
database); the product never loads Celery.
"""

from upwork_automation.settings.base import *  # noqa: F403
from upwork_automation.settings.base import INSTALLED_APPS, REDIS_URL

INSTALLED_APPS = [*INSTALLED_APPS, "django_celery_results"]
CELERY_BROKER_URL = REDIS_URL  # the same Redis server and database as the RQ runs
CELERY_RESULT_BACKEND = "django-db"
CELERY_TASK_DEFAULT_QUEUE = "bench_celery"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
