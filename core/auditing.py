"""Audit rows for plain model writes made by people (API CRUD, admin forms): one mixin per interface.

Rows whose writes have their own service (tasks, proposals, applications...) are audited there; these mixins
cover the models a person edits as a whole (search profiles, freelancer profiles, attachments, users, roles).
Each write and its audit row share one transaction. Secret fields are never copied into the audit log.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.forms.models import model_to_dict

from core.actor import Actor
from core.audit import audit_record

# Never copied into an audit row (a changed secret shows as "<changed>").
SECRET_FIELDS = {"password", "storage_state", "access_token", "refresh_token"}


def model_snapshot(obj) -> dict[str, Any]:
    """The model's fields and many-to-many values (as text), without secrets."""
    data = model_to_dict(obj)
    for name in SECRET_FIELDS & set(data):
        data[name] = "<set>" if data[name] else ""
    for name, value in data.items():
        if isinstance(value, list) and value and hasattr(value[0], "_meta"):
            data[name] = sorted(str(item) for item in value)
        elif hasattr(value, "name") and hasattr(value, "storage"):  # a file: its stored name
            data[name] = value.name or ""
    return data


def _changes(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """Keep only what changed on an update; a changed secret is named, never shown."""
    if before is None or after is None:
        return before, after
    changed = [name for name in after if before.get(name) != after.get(name)]
    old = {name: before.get(name) for name in changed}
    new = {name: after.get(name) for name in changed}
    for name in SECRET_FIELDS & set(changed):
        old[name], new[name] = "<old>", "<changed>"
    return old, new


def model_write_audit(*, obj, verb: str, before: dict | None, after: dict | None, actor: Actor) -> None:
    """One audit row '<object_type>.<verb>' for a create / update / delete of `obj`."""
    object_type = obj._meta.model_name
    before, after = _changes(before, after)
    if verb == "update" and not before and not after:
        return  # saved without a change
    audit_record(
        action=f"{object_type}.{verb}",
        object_type=object_type,
        object_id=obj.pk,
        actor=actor,
        before=before,
        after=after,
    )


def _snapshot_from_db(obj) -> dict | None:
    if obj.pk is None:
        return None
    current = type(obj)._default_manager.filter(pk=obj.pk).first()
    return model_snapshot(current) if current is not None else None


class AuditedModelViewSetMixin:
    """DRF ModelViewSet writes (create, update, partial update, destroy) with an audit row each."""

    def _audit(self, obj, verb: str, before) -> None:
        model_write_audit(
            obj=obj,
            verb=verb,
            before=before,
            after=None if verb == "delete" else model_snapshot(obj),
            actor=Actor.from_request(self.request),
        )

    def perform_create(self, serializer):
        with transaction.atomic():
            super().perform_create(serializer)
            self._audit(serializer.instance, "create", None)

    def perform_update(self, serializer):
        with transaction.atomic():
            before = _snapshot_from_db(serializer.instance)
            super().perform_update(serializer)
            self._audit(serializer.instance, "update", before)

    def perform_destroy(self, instance):
        with transaction.atomic():
            before, pk = model_snapshot(instance), instance.pk
            super().perform_destroy(instance)  # a view class below this one may delete through its service
            instance.pk = pk
            self._audit(instance, "delete", before)


class AuditedModelAdminMixin:
    """ModelAdmin saves and deletes with an audit row each; many-to-many changes (groups, permissions) included,
    so the row is written after save_related. The admin's change view already runs in one transaction."""

    def _audit(self, request, obj, verb: str, before) -> None:
        model_write_audit(
            obj=obj,
            verb=verb,
            before=before,
            after=None if verb == "delete" else model_snapshot(obj),
            actor=Actor.admin(request),
        )

    def save_model(self, request, obj, form, change):
        obj._audit_before = _snapshot_from_db(obj) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        self._audit(request, obj, "update" if change else "create", getattr(obj, "_audit_before", None))

    def delete_model(self, request, obj):
        with transaction.atomic():
            before, pk = model_snapshot(obj), obj.pk
            super().delete_model(request, obj)
            obj.pk = pk
            self._audit(request, obj, "delete", before)

    def delete_queryset(self, request, queryset):
        for obj in queryset:  # one audited delete each (an admin class below this one may delete through a service)
            self.delete_model(request, obj)
