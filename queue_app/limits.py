"""Concurrency and rate limits on starting tasks, atomic in Redis across every worker and host.

A task over a limit is not failed: the worker puts it back with a delay (its row says why it
waits) and RQ offers it again later. Slots are leases that expire after the task's timeout, and
are released when the task ends, when its work horse dies, or when the crash sweep recovers it.
"""

from __future__ import annotations

import random
import socket
import time
from dataclasses import dataclass
from types import MappingProxyType

from django.conf import settings

from queue_app import registry, transport

WINDOWS = MappingProxyType({"s": 1, "m": 60, "h": 3600})  # seconds per rate-limit unit (read-only)

# KEYS: for each check one key. ARGV: now, member, then per check: kind, limit, window_or_lease.
# All checks pass or nothing is taken. Returns {0, reason_index, wait_seconds} or {1}.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local member = ARGV[2]
local n = #KEYS
for i = 1, n do
    local kind = ARGV[3 + (i - 1) * 3]
    local limit = tonumber(ARGV[4 + (i - 1) * 3])
    local span = tonumber(ARGV[5 + (i - 1) * 3])
    if kind == 'c' then
        redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
        if redis.call('ZSCORE', KEYS[i], member) == false and redis.call('ZCARD', KEYS[i]) >= limit then
            return {0, i, 0}
        end
    else
        redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - span)
        if redis.call('ZCARD', KEYS[i]) >= limit then
            local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
            return {0, i, tostring(tonumber(oldest[2]) + span - now)}
        end
    end
end
for i = 1, n do
    local kind = ARGV[3 + (i - 1) * 3]
    local span = tonumber(ARGV[5 + (i - 1) * 3])
    if kind == 'c' then
        redis.call('ZADD', KEYS[i], now + span, member)
    else
        redis.call('ZADD', KEYS[i], now, member .. ':' .. now)
        redis.call('EXPIRE', KEYS[i], math.ceil(span) + 60)
    end
end
return {1}
"""


@dataclass(frozen=True)
class Check:
    key: str
    kind: str  # "c" concurrency, "r" rate
    limit: int
    span: float  # lease seconds (concurrency) or window seconds (rate)
    description: str


@dataclass(frozen=True)
class Denied:
    reason: str
    wait_seconds: float


def parse_rate(rate: str) -> tuple[int, int]:
    """'60/m' -> (60, 60). Raises ValueError with a sentence on a bad value."""
    try:
        count, unit = rate.split("/")
        return int(count), WINDOWS[unit.strip()[0]]
    except (ValueError, KeyError, IndexError):
        raise ValueError(f"Bad rate '{rate}': write N/s, N/m or N/h, e.g. 60/m.") from None


def effective_limits(task_type: registry.TaskType) -> list[tuple[str, registry.Limits]]:
    """(scope, limits) pairs that apply: the family's and the type's, each overridable in TASK_LIMITS."""
    overrides = settings.TASK_LIMITS
    scopes = []
    for scope, declared in (
        (f"family:{task_type.family}", registry.get_family(task_type.family).limits),
        (f"type:{task_type.name}", task_type.limits),
    ):
        override = overrides.get(scope.split(":", 1)[1], {})
        limits = registry.Limits(
            concurrency=override.get("concurrency", declared.concurrency),
            per_host_concurrency=override.get("per_host_concurrency", declared.per_host_concurrency),
            rate=override.get("rate", declared.rate),
        )
        if not limits.empty:
            scopes.append((scope, limits))
    return scopes


def memory_limit_mb(task_type: registry.TaskType) -> int | None:
    """The type's memory limit in MB, from TASK_LIMITS or its registration."""
    return settings.TASK_LIMITS.get(task_type.name, {}).get("memory_limit_mb", task_type.memory_limit_mb)


def checks_for(task_type: registry.TaskType, *, timeout: int) -> list[Check]:
    lease = timeout + 60
    host = socket.gethostname()
    checks = []
    for scope, limits in effective_limits(task_type):
        if limits.concurrency:
            checks.append(
                Check(
                    f"queue:limit:running:{scope}",
                    "c",
                    limits.concurrency,
                    lease,
                    f"at most {limits.concurrency} {scope} running at once",
                )
            )
        if limits.per_host_concurrency:
            checks.append(
                Check(
                    f"queue:limit:running:{scope}:host:{host}",
                    "c",
                    limits.per_host_concurrency,
                    lease,
                    f"at most {limits.per_host_concurrency} {scope} running at once on {host}",
                )
            )
        if limits.rate:
            count, window = parse_rate(limits.rate)
            checks.append(
                Check(f"queue:limit:starts:{scope}", "r", count, window, f"at most {limits.rate} {scope} started")
            )
    return checks


def acquire(task_id: str, checks: list[Check]) -> Denied | None:
    """Take a slot in every check at once, or none. None means the task may start."""
    if not checks:
        return None
    args: list = [time.time(), task_id]
    for check in checks:
        args += [check.kind, check.limit, check.span]
    result = transport.get_connection().eval(_ACQUIRE, len(checks), *[c.key for c in checks], *args)
    if int(result[0]) == 1:
        return None
    check = checks[int(result[1]) - 1]
    # Nobody knows when a running task ends: concurrency waits poll with jitter so they don't stampede.
    jittered = settings.LIMIT_RETRY_SECONDS * (0.5 + random.random())
    wait = max(float(result[2]), 0.05) if check.kind == "r" else jittered
    return Denied(reason=f"Waiting for a slot: {check.description}.", wait_seconds=wait)


def release(task_id: str, checks: list[Check]) -> None:
    concurrency = [check.key for check in checks if check.kind == "c"]
    if concurrency:
        with transport.get_connection().pipeline(transaction=False) as pipe:
            for key in concurrency:
                pipe.zrem(key, task_id)
            pipe.execute()


def release_everywhere(task_id: str) -> None:
    """Free a task's concurrency slots when its host is unknown (crash sweep, shutdown)."""
    connection = transport.get_connection()
    keys = list(connection.scan_iter(match="queue:limit:running:*", count=500))
    if keys:
        with connection.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrem(key, task_id)
            pipe.execute()
