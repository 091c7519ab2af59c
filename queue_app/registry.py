"""Task type registry: each app registers its task types in its AppConfig.ready()."""

from __future__ import annotations

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
class TaskType:
    name: str
    handler: Handler
    payload_serializer: type[serializers.Serializer] | None = None
    priority: str = "normal"
    timeout: int | None = None  # None: settings.TASK_TIMEOUT
    max_retries: int | None = None  # None: settings.MAX_RETRIES
    description: str = ""

    def validate_payload(self, payload: Any) -> dict:
        """Return the cleaned payload or raise ValidationFailed naming each bad field."""
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise ValidationFailed(
                "The payload must be a JSON object.", field_errors={"payload": ["Expected an object."]}
            )
        if self.payload_serializer is None:
            return payload
        serializer = self.payload_serializer(data=payload)
        if not serializer.is_valid():
            raise ValidationFailed(
                f"Invalid payload for task type '{self.name}'.",
                field_errors={f"payload.{field}": errors for field, errors in serializer.errors.items()},
            )
        # Keep what the caller sent plus defaults, in JSON-safe form.
        return {**payload, **serializers.JSONField().to_representation(dict(serializer.validated_data))}


_registry: dict[str, TaskType] = {}


def register(
    name: str,
    handler: Handler,
    *,
    payload_serializer: type[serializers.Serializer] | None = None,
    priority: str = "normal",
    timeout: int | None = None,
    max_retries: int | None = None,
    description: str = "",
) -> TaskType:
    task_type = TaskType(
        name=name,
        handler=handler,
        payload_serializer=payload_serializer,
        priority=priority,
        timeout=timeout,
        max_retries=max_retries,
        description=description,
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
