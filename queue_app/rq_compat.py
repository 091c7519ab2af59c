"""One speed fix for RQ on Python 3.11: its serializer check, answered once per serializer.

RQ resolves a serializer each time it builds a Job, Queue, registry or Result (about six
times per job a worker runs, once or twice per job enqueued) and checks it with
`isinstance(serializer, Serializer)`, a runtime-checkable Protocol. Before Python 3.12 that
check walks the protocol's attributes on every call: 20 µs each on this project's VM, 5 to 10 %
of a bulk enqueue. The answer depends only on the serializer given, so it is kept.
"""

from __future__ import annotations

import functools
import importlib

from rq import serializers

# The RQ modules that imported resolve_serializer by name.
_USERS = ("rq.job", "rq.queue", "rq.registry", "rq.results", "rq.scheduler", "rq.worker.base", "rq.cron")
_original = serializers.resolve_serializer


@functools.cache
def _resolve_hashable(serializer):
    return _original(serializer)


def resolve_serializer(serializer=None):
    """rq.serializers.resolve_serializer, remembered per serializer (unhashable ones: as RQ does)."""
    try:
        return _resolve_hashable(serializer)
    except TypeError:  # an unhashable serializer object
        return _original(serializer)


def install() -> None:
    """Point RQ's modules at the remembering resolver (idempotent)."""
    for name in _USERS:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a module a later RQ may drop
            continue
        if getattr(module, "resolve_serializer", None) is _original:
            module.resolve_serializer = resolve_serializer
    serializers.resolve_serializer = resolve_serializer
