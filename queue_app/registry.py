"""Task type registry: each app registers its task types in its AppConfig.ready()."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers

from queue_app.errors import ValidationFailed


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
        validated = []
        for index, payload in enumerate(payloads):
            try:
                validated.append(validator.run_validation(payload))
            except serializers.ValidationError as invalid:
                detail = invalid.detail
                item_errors = detail if isinstance(detail, dict) else {"non_field_errors": list(detail)}
                error = ValidationFailed(
                    f"Invalid payload for task type '{self.name}'.",
                    field_errors={f"payload.{field}": messages for field, messages in item_errors.items()},
                )
                error.index = index
                raise error from None
        # Keep what the caller sent plus defaults, in JSON-safe form.
        to_json = serializers.JSONField().to_representation
        return [{**payload, **to_json(dict(cleaned))} for payload, cleaned in zip(payloads, validated, strict=True)]


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

# The product's task types and their families; a type may also name its family when registered.
PRODUCT_TYPE_FAMILIES = {
    "job_discovery": "discovery",
    "job_search": "discovery",
    "job_filtering": "discovery",
    "generate_proposal": "proposals",
    "batch_generate_proposals": "proposals",
    "update_proposal": "proposals",
    "submit_application": "applications",
    "batch_submit_applications": "applications",
    "verify_submission": "applications",
}


def queue_name(family: str, priority: str) -> str:
    """The RQ queue of one family and priority, e.g. 'discovery.high'."""
    return f"{family}.{priority}"


def register_family(name: str, *, limits: Limits | None = None, description: str = "") -> Family:
    """Declare a family. Its queues are added to RQ_QUEUES so `rqworker <family>.<priority>` works."""
    from django.conf import settings

    if not name or "." in name or name in settings.TASK_PRIORITIES:
        raise ValueError(f"Invalid family name '{name}'.")
    family = Family(name=name, limits=limits or Limits(), description=description)
    _families[name] = family
    template = next(iter(settings.RQ_QUEUES.values()))
    for queue in [name, *(queue_name(name, priority) for priority in settings.TASK_PRIORITIES)]:
        settings.RQ_QUEUES.setdefault(queue, dict(template))
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
    family = family or PRODUCT_TYPE_FAMILIES.get(name, "system")
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
