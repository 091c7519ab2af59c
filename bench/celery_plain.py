"""The bench's Celery 5 peer without Django: a plain Celery app whose no-op task ignores its result.

Started by bench/throughput.py as `celery -A bench.celery_plain worker --pool solo` with no
DJANGO_SETTINGS_MODULE in its environment, so Celery's Django fixup (which closes or checks the
database connections and closes the caches around every task) is not installed: this is Celery as
its optimizing guide sets it up for many short tasks. Not part of the product.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

# The same Redis server and database as the RQ runs (bench/throughput.py sets REDIS_URL).
BROKER_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = "bench_celery"
DONE_KEY = "bench:celery:done"

app = Celery("bench_plain", broker=BROKER_URL, set_as_current=True)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,  # no result backend at all
    task_acks_late=False,  # ack on receipt (Celery's default), as a solo worker of short tasks does
    # Reserve many messages ahead: one broker round trip feeds many short tasks (Celery's
    # optimizing guide recommends a large multiplier for many short tasks).
    worker_prefetch_multiplier=int(os.environ.get("BENCH_CELERY_PREFETCH", "128")),
    worker_disable_rate_limits=True,  # no task here has a rate limit
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    task_send_sent_event=False,
    broker_connection_retry_on_startup=True,
)
_redis = redis.Redis.from_url(BROKER_URL)


@app.task(name="bench.noop_ignored", ignore_result=True)
def noop_ignored():
    return None


@app.task(name="bench.marker", ignore_result=True)
def marker(key: str = DONE_KEY):
    """Enqueued before and after a run's tasks: the solo worker takes them in order."""
    _redis.set(key, repr(time.time()))
