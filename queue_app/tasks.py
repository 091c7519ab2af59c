"""Queue entry points of the queue app itself: cleanup_tasks and the diagnostic noop."""

from __future__ import annotations

import time

from rest_framework import serializers

from queue_app.registry import TaskContext

# The noop's knobs are for tests and probes, and anyone who may enqueue a task may turn them: each is
# capped so that no request makes a worker hold much memory, sleep past a minute, fail for long or
# write a large result (an operator could once ask for 4 GB). Over a cap: 400 naming the field.
NOOP_MAX_SLEEP_MS = 60_000
NOOP_MAX_FAIL_TIMES = 10
NOOP_MAX_ALLOCATE_MB = 128  # probes a memory limit (TASK_LIMITS memory_limit_mb) of up to about 100 MB
NOOP_MAX_RESULT_KB = 128  # over the 32 KB a work horse hands back through its pipe


class NoopPayload(serializers.Serializer):
    sleep_ms = serializers.IntegerField(required=False, min_value=0, max_value=NOOP_MAX_SLEEP_MS, default=0)
    fail_times = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=NOOP_MAX_FAIL_TIMES,
        default=0,
        help_text="Fail the first N attempts, then succeed.",
    )
    allocate_mb = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=NOOP_MAX_ALLOCATE_MB,
        default=0,
        help_text="Allocate this much memory (limit probes).",
    )
    result_kb = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=NOOP_MAX_RESULT_KB,
        default=0,
        help_text="Pad the result to about this many KB.",
    )


def noop(payload: dict, context: TaskContext) -> dict:
    """Do nothing (optionally sleep, optionally fail the first N attempts): for benchmarks and probes."""
    if context.attempt <= payload.get("fail_times", 0):
        raise RuntimeError(f"noop failing attempt {context.attempt} of {payload['fail_times']} on purpose")
    if payload.get("allocate_mb"):
        block = bytearray(payload["allocate_mb"] * 1024 * 1024)
        del block
    sleep_ms = payload.get("sleep_ms", 0)
    if sleep_ms:
        time.sleep(sleep_ms / 1000)
    result = {"ok": True, "attempt": context.attempt}
    if payload.get("result_kb"):
        result["padding"] = "x" * (payload["result_kb"] * 1024)
    return result


class CleanupPayload(serializers.Serializer):
    days = serializers.IntegerField(min_value=0, default=7)
    batch_size = serializers.IntegerField(min_value=1, max_value=100_000, default=5000)


def cleanup_tasks(payload: dict, context: TaskContext) -> dict:
    """Delete finished tasks older than `days` days, in batches."""
    from queue_app.services import tasks_cleanup

    deleted = tasks_cleanup(days=payload["days"], batch_size=payload["batch_size"])
    return {"deleted": deleted}
