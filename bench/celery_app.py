"""The bench's Celery 5 peer: a no-op task storing its result (django-celery-results) and one ignoring it.

Started by bench/throughput.py as `celery -A bench.celery_app worker --pool solo` with
DJANGO_SETTINGS_MODULE=bench.celery_settings. Not part of the product.
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

DONE_KEY = "bench:celery:done"


@app.task(name="bench.noop_results")
def noop_results():
    return None


@app.task(name="bench.noop_ignored", ignore_result=True)
def noop_ignored():
    return None


@app.task(name="bench.marker", ignore_result=True)
def marker():
    """Enqueued after a run's tasks: the solo worker takes them in order, so this one runs last."""
    from queue_app.transport import get_connection

    get_connection().set(DONE_KEY, repr(time.time()))
