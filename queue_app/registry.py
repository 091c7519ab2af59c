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
        return self.validate_payloads([payload])[0]

    def validate_payloads(self, payloads: list[Any]) -> list[dict]:
        """Validate many payloads with one serializer instance (bulk enqueue stays fast).

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
        serializer = self.payload_serializer(data=payloads, many=True)
        if not serializer.is_valid():
            errors = serializer.errors
            # DRF reports per-item errors as a list, or (3.18+) as a dict keyed by position.
            per_item = dict(enumerate(errors)) if isinstance(errors, list) else errors
            index, item_errors = next(
                ((i, e) for i, e in sorted(per_item.items(), key=lambda kv: str(kv[0])) if isinstance(i, int) and e),
                (0, {"non_field_errors": list(errors.get("non_field_errors", ["Invalid."]))}),
            )
            error = ValidationFailed(
                f"Invalid payload for task type '{self.name}'.",
                field_errors={f"payload.{field}": messages for field, messages in item_errors.items()},
            )
            error.index = index
            raise error
        # Keep what the caller sent plus defaults, in JSON-safe form.
        to_json = serializers.JSONField().to_representation
        return [
            {**payload, **to_json(dict(cleaned))}
            for payload, cleaned in zip(payloads, serializer.validated_data, strict=True)
        ]


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
