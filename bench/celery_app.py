"""The bench's Celery 5 peer with results: a no-op task storing its result with django-celery-results.

Started by bench/throughput.py as `celery -A bench.celery_app worker --pool solo` with
DJANGO_SETTINGS_MODULE=bench.celery_settings (django-celery-results needs Django, so Celery's
Django fixup is installed here; the database connection is reused between tasks). The run ignoring
results uses bench/celery_plain.py, without Django. Not part of the product.
"""

from __future__ import annotations

import os
import time

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.celery_settings")
django.setup()

app = Celery("bench")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes every database connection after each task unless told to reuse
# them; the product's workers keep theirs, so the peer does too (CONN_MAX_AGE still applies).
app.conf["CELERY_DB_REUSE_MAX"] = 10**9

DONE_KEY = "bench:celery:done"
START_KEY = "bench:celery:start"


@app.task(name="bench.noop_results")
def noop_results():
    return None


@app.task(name="bench.marker", ignore_result=True)
def marker(key: str = DONE_KEY):
    """Enqueued before and after a run's tasks: the solo worker takes them in order."""
    from queue_app.transport import get_connection

    get_connection().set(key, repr(time.time()))
