"""Runtime switches: declared by domain apps, overridden by an operator in PostgreSQL, read at task time.

A framework knows no product: each domain app declares its switches (key, kind, the setting giving the
default) in its AppConfig.ready(); this module only stores overrides and answers "what is it now". Workers
call switch_value() when a task runs, so a change in the admin reaches the next task without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from core.actor import SYSTEM, Actor
from core.audit import audit_record
from core.errors import NotFound, ValidationFailed
from queue_app.models import Switch

BOOL = "bool"
INT = "int"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class SwitchSpec:
    key: str
    kind: str  # BOOL or INT
    setting: str  # the Django setting (an env var of the same name) that gives the default
    description: str
    minimum: int | None = None
    default: Callable[[], Any] | None = None  # when the default is not simply the setting

    def default_value(self) -> Any:
        return self.default() if self.default is not None else getattr(settings, self.setting)

    def parse(self, raw: Any) -> Any:
        """The typed value of an operator's input; ValidationFailed with a sentence when it is not one."""
        if isinstance(raw, bool) and self.kind == BOOL:
            return raw
        text = str(raw).strip().lower()
        if self.kind == BOOL:
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValidationFailed(
                f"{self.key} is on or off: give true or false (empty = the default from {self.setting}).",
                field_errors={"value": ["Give true or false."]},
            )
        try:
            number = int(text)
        except ValueError:
            raise ValidationFailed(
                f"{self.key} is a whole number (empty = the default from {self.setting}).",
                field_errors={"value": ["Give a whole number."]},
            ) from None
        if self.minimum is not None and number < self.minimum:
            raise ValidationFailed(
                f"{self.key} cannot be below {self.minimum}.", field_errors={"value": [f"At least {self.minimum}."]}
            )
        return number

    def show(self, value: Any) -> str:
        return ("true" if value else "false") if self.kind == BOOL else str(value)


_SPECS: dict[str, SwitchSpec] = {}


def switch_declare(
    *,
    key: str,
    kind: str,
    setting: str,
    description: str,
    minimum: int | None = None,
    default: Callable[[], Any] | None = None,
) -> SwitchSpec:
    """Declare a switch (from a domain app's ready()); declaring the same key again replaces it."""
    if kind not in (BOOL, INT):
        raise ValueError(f"Switch kind must be {BOOL!r} or {INT!r}, not {kind!r}.")
    spec = SwitchSpec(key=key, kind=kind, setting=setting, description=description, minimum=minimum, default=default)
    _SPECS[key] = spec
    return spec


def switch_specs() -> list[SwitchSpec]:
    return sorted(_SPECS.values(), key=lambda spec: spec.key)


def switch_spec(key: str) -> SwitchSpec:
    spec = _SPECS.get(key)
    if spec is None:
        known = ", ".join(sorted(_SPECS)) or "none"
        raise NotFound(f"No runtime switch '{key}'. Known switches: {known}.")
    return spec


def switch_value(key: str) -> Any:
    """The switch's value now: the operator's override from PostgreSQL, else the environment's default.

    One indexed read; called when a task runs, never cached across tasks.
    """
    spec = switch_spec(key)
    raw = Switch.objects.filter(key=key).values_list("value", flat=True).first()
    if raw:
        try:
            return spec.parse(raw)
        except ValidationFailed:  # a row written around switch_set: the safe side is the default
            return spec.default_value()
    return spec.default_value()


def switches_state() -> list[dict[str, Any]]:
    """Every declared switch with its default, override and effective value (for the admin, API, dashboard)."""
    overrides = dict(Switch.objects.values_list("key", "value"))
    rows = []
    for spec in switch_specs():
        raw = overrides.get(spec.key, "")
        default = spec.default_value()
        rows.append(
            {
                "key": spec.key,
                "kind": spec.kind,
                "setting": spec.setting,
                "description": spec.description,
                "default": default,
                "override": spec.parse(raw) if raw else None,
                "value": spec.parse(raw) if raw else default,
            }
        )
    return rows


def switches_ensure() -> int:
    """A row (no override) for every declared switch that has none, so the admin lists them all."""
    keys = [spec.key for spec in switch_specs()]
    existing = set(Switch.objects.filter(key__in=keys).values_list("key", flat=True))
    missing = [Switch(key=key) for key in keys if key not in existing]
    Switch.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def switch_set(*, key: str, value: Any, actor: Actor = SYSTEM) -> Switch:
    """Override a switch (None or "" puts it back to the environment's default); audited as switch.set."""
    spec = switch_spec(key)
    cleaned = "" if value is None or str(value).strip() == "" else spec.show(spec.parse(value))
    with transaction.atomic():
        switch, _ = Switch.objects.select_for_update().get_or_create(key=key)
        before = {"value": switch.value or None, "effective": spec.show(switch_value(key))}
        switch.value = cleaned
        switch.updated_by = actor.authenticated_user
        switch.save(update_fields=["value", "updated_by", "updated_at"])
        audit_record(
            action="switch.set",
            object_type="switch",
            object_id=key,
            actor=actor,
            before=before,
            after={
                "value": cleaned or None,
                "effective": spec.show(spec.parse(cleaned) if cleaned else spec.default_value()),
            },
        )
    return switch
