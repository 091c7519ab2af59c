"""What the apps declare in their AppConfig.ready(): task types, families and their limits, default schedules."""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from core.errors import ValidationFailed


@dataclass(frozen=True)
class TaskContext:
    """What a handler gets besides its payload: enough to make its effects idempotent."""

    task_id: str
    task_type: str
    attempt: int
    max_retries: int


Handler = Callable[[dict, TaskContext], Any]


@dataclass(frozen=True)
class Limits:
    """Limits on starting tasks, enforced across every worker on every host (queue_app.limits).

    concurrency: at most this many running at once, cluster-wide.
    per_host_concurrency: at most this many running at once on one host.
    rate: at most N started per window, written "N/s", "N/m" or "N/h".
    """

    concurrency: int | None = None
    per_host_concurrency: int | None = None
    rate: str | None = None

    @property
    def empty(self) -> bool:
        return self.concurrency is None and self.per_host_concurrency is None and self.rate is None


@dataclass(frozen=True)
class Family:
    """A group of task types with their own queues (one per priority) and limits."""

    name: str
    limits: Limits = Limits()
    description: str = ""


@dataclass(frozen=True)
class TaskType:
    name: str
    handler: Handler
    payload_serializer: type[serializers.Serializer] | None = None
    priority: str = "normal"
    timeout: int | None = None  # None: settings.TASK_TIMEOUT
    max_retries: int | None = None  # None: settings.MAX_RETRIES
    description: str = ""
    family: str = "system"
    limits: Limits = Limits()
    memory_limit_mb: int | None = None  # extra address space the task may use

    def validate_payload(self, payload: Any) -> dict:
        """Return the cleaned payload or raise ValidationFailed naming each bad field."""
        return self.validate_payloads([payload])[0]

    def validate_payloads(self, payloads: list[Any]) -> list[dict]:
        """Validate payloads with this thread's instance of the type's serializer (see _validator).

        Raises ValidationFailed for the first bad one, its field errors keyed `payload.<field>`
        and its position in `error.index`.
        """
        payloads = [{} if payload is None else payload for payload in payloads]
        for index, payload in enumerate(payloads):
            if not isinstance(payload, dict):
                error = ValidationFailed(
                    "The payload must be a JSON object.", field_errors={"payload": ["Expected an object."]}
                )
                error.index = index
                raise error
        if self.payload_serializer is None:
            return payloads
        validator = _validator(self.payload_serializer)
        to_json = serializers.JSONField().to_representation
        # A bulk often repeats one payload (10,000 noops): equal payloads are validated once when
        # the serializer is a function of the payload alone (no callable default, see _repeatable).
        seen: dict[str, tuple[dict, dict]] | None = {} if _repeatable(self.payload_serializer) else None
        result = []
        for index, payload in enumerate(payloads):
            key = _payload_key(payload) if seen is not None else None
            hit = seen.get(key) if key is not None else None
            if hit is not None and hit[0] == payload:  # same JSON text and equal: the same payload
                cleaned = hit[1]
            else:
                try:
                    validated = validator.run_validation(payload)
                except serializers.ValidationError as invalid:
                    detail = invalid.detail
                    item_errors = detail if isinstance(detail, dict) else {"non_field_errors": list(detail)}
                    error = ValidationFailed(
                        f"Invalid payload for task type '{self.name}'.",
                        field_errors={f"payload.{field}": messages for field, messages in item_errors.items()},
                    )
                    error.index = index
                    raise error from None
                cleaned = to_json(dict(validated))
                if key is not None:
                    seen[key] = (payload, cleaned)
            # Keep what the caller sent plus defaults, in JSON-safe form; each task its own dict.
            result.append({**payload, **(cleaned if hit is None or _flat(cleaned) else copy.deepcopy(cleaned))})
        return result


def _payload_key(payload: dict) -> str | None:
    # JSON text tells 1, 1.0 and True apart (== does not); == then tells a key 1 from "1".
    try:
        return json.dumps(payload)
    except (TypeError, ValueError):
        return None


def _flat(cleaned: dict) -> bool:
    return all(value is None or type(value) in (str, int, float, bool) for value in cleaned.values())


@functools.cache
def _repeatable(serializer_class: type[serializers.Serializer]) -> bool:
    """Whether a payload validated once may stand for an equal one: no field has a callable default.

    DRF's "no default" (rest_framework.fields.empty) is a class, hence callable: it is not one.
    """

    def pure(serializer: serializers.Serializer) -> bool:
        for field in serializer.fields.values():
            default = getattr(field, "default", empty)
            if default is not empty and callable(default):
                return False
            child = getattr(field, "child", None)
            if isinstance(field, serializers.BaseSerializer) and not pure(child if child is not None else field):
                return False
        return True

    return pure(serializer_class())


@dataclass(frozen=True)
class DefaultSchedule:
    """A schedule created once, by name, when missing (scheduling.schedules_ensure_defaults).

    With business_hours, `{hours}` and `{days}` in the cron expression become the business hours
    and days of the settings when the defaults are read, and the schedule runs in the business time zone.
    """

    name: str
    task_type: str
    cron_expression: str
    description: str
    business_hours: bool = False
    payload: dict | None = None


# A DRF serializer deep-copies its declared fields each time one is built: a third of a single
# enqueue's validation. The payload serializers keep no state between run_validation calls
# (no context, no initial_data), so each thread builds one per class and reuses it.
_validators = threading.local()


def _validator(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    cache = _validators.__dict__.setdefault("by_class", {})
    validator = cache.get(serializer_class)
    if validator is None:
        validator = cache[serializer_class] = serializer_class()
    return validator


_registry: dict[str, TaskType] = {}
_families: dict[str, Family] = {}
_default_schedules: dict[str, DefaultSchedule] = {}


def queue_name(family: str, priority: str) -> str:
    """The RQ queue of one family and priority, e.g. 'discovery.high'."""
    return f"{family}.{priority}"


def register_family(name: str, *, limits: Limits | None = None, description: str = "", probe: bool = False) -> Family:
    """Declare a family. Its queues are added to RQ_QUEUES so `rqworker <family>.<priority>` works.

    With probe, a `noop_<family>` task type too: a noop that probes the family's workers and limits.
    """
    from django.conf import settings

    if not name or "." in name or name in settings.TASK_PRIORITIES:
        raise ValueError(f"Invalid family name '{name}'.")
    family = Family(name=name, limits=limits or Limits(), description=description)
    _families[name] = family
    template = next(iter(settings.RQ_QUEUES.values()))
    for queue in [name, *(queue_name(name, priority) for priority in settings.TASK_PRIORITIES)]:
        settings.RQ_QUEUES.setdefault(queue, dict(template))
    if probe:
        from queue_app import tasks  # imports this module

        register(
            f"noop_{name}",
            tasks.noop,
            payload_serializer=tasks.NoopPayload,
            family=name,
            timeout=300,
            description=f"Does nothing in the {name} family; a probe of that family's workers.",
        )
    return family


def families() -> dict[str, Family]:
    return dict(_families)


def get_family(name: str) -> Family:
    try:
        return _families[name]
    except KeyError:
        raise ValueError(f"Unknown task family '{name}'. Known: {', '.join(sorted(_families))}.") from None


def register(
    name: str,
    handler: Handler,
    *,
    payload_serializer: type[serializers.Serializer] | None = None,
    priority: str = "normal",
    timeout: int | None = None,
    max_retries: int | None = None,
    description: str = "",
    family: str | None = None,
    limits: Limits | None = None,
    memory_limit_mb: int | None = None,
) -> TaskType:
    family = family or "system"
    get_family(family)
    task_type = TaskType(
        name=name,
        handler=handler,
        payload_serializer=payload_serializer,
        priority=priority,
        timeout=timeout,
        max_retries=max_retries,
        description=description,
        family=family,
        limits=limits or Limits(),
        memory_limit_mb=memory_limit_mb,
    )
    existing = _registry.get(name)
    if existing is not None and existing.handler is not handler:
        raise ValueError(f"Task type '{name}' is already registered with another handler.")
    _registry[name] = task_type
    return task_type


def get(name: str) -> TaskType:
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none"
        raise ValidationFailed(
            f"Unknown task type '{name}'. Registered types: {known}.",
            field_errors={"task_type": [f"Unknown task type '{name}'."]},
        ) from None


def all_types() -> dict[str, TaskType]:
    return dict(_registry)


def register_default_schedule(
    name: str,
    *,
    task_type: str,
    cron_expression: str,
    description: str,
    business_hours: bool = False,
    payload: dict | None = None,
) -> DefaultSchedule:
    """Declare a default schedule (see DefaultSchedule); the app that owns the task type declares it."""
    default = DefaultSchedule(name, task_type, cron_expression, description, business_hours, payload)
    existing = _default_schedules.get(name)
    if existing is not None and existing != default:
        raise ValueError(f"Default schedule '{name}' is already declared differently.")
    _default_schedules[name] = default
    return default


def default_schedules() -> list[DefaultSchedule]:
    """The declared default schedules, in the order they were declared (cron templates not filled in)."""
    return list(_default_schedules.values())
