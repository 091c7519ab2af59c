"""Patch 1 of the adapter (see queue_app/rq_adapter/__init__.py): RQ's serializer resolution.

1. Every serializer RQ resolves is answered once per serializer. RQ resolves one each time it
   builds a Job, Queue, registry or Result (about six times per job a worker runs) and checks it
   with `isinstance(serializer, Serializer)`, a runtime-checkable Protocol: 20 µs per call before
   Python 3.12, 5 to 10 % of a bulk enqueue.
2. RQ's default serializer (pickle), by any of its names, resolves to JobSerializer (JSON). Redis
   is not trusted: whoever can write to it must not run code in a process that reads a job. RQ
   loads a job's data, meta and result with the serializer as soon as it reads them, whoever asks:
   `Job.fetch(id)` with no serializer, rq-scheduler, `rqworker`'s `--serializer` default, a
   queue from RQ_QUEUES.
"""

from __future__ import annotations

import functools
import importlib
import json

from rq import serializers


class JobSerializer:
    """RQ's job data, meta and results as JSON: a task's job carries only (task id, task type).

    Loading never runs code; bytes that are not JSON (a pickle) raise ValueError, which RQ turns
    into DeserializationError. Dumping something JSON cannot hold raises TypeError (RQ stores
    "Unserializable return value" for a result). Readable by `rq --serializer json`.
    """

    @staticmethod
    def dumps(obj) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    @staticmethod
    def loads(data: bytes | str):
        return json.loads(data)


# The RQ modules that imported resolve_serializer by name.
_USERS = ("rq.job", "rq.queue", "rq.registry", "rq.results", "rq.scheduler", "rq.worker.base", "rq.cron")
_original = serializers.resolve_serializer
# What RQ falls back to, by any of its names: never used by this project.
_PICKLE = (None, "", "pickle", "rq.serializers.DefaultSerializer", "rq.serializers.PickleSerializer")


@functools.cache
def _resolve_hashable(serializer):
    if serializer in _PICKLE or serializer is serializers.DefaultSerializer:
        return JobSerializer
    return _original(serializer)


def resolve_serializer(serializer=None):
    """rq.serializers.resolve_serializer, pickle replaced by JSON, remembered per serializer."""
    try:
        return _resolve_hashable(serializer)
    except TypeError:  # an unhashable serializer object
        return _original(serializer)


def install() -> None:
    """Point RQ's modules at this resolver (idempotent)."""
    for name in _USERS:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a module a later RQ may drop
            continue
        if getattr(module, "resolve_serializer", None) is _original:
            module.resolve_serializer = resolve_serializer
    serializers.resolve_serializer = resolve_serializer
