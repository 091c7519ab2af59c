"""Runtime switches: declared by the apps, overridden in PostgreSQL through one audited service and the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from applications import conf
from core.actor import Actor
from core.errors import NotFound, ValidationFailed
from core.models import AuditEntry
from jobs import tasks as job_tasks
from queue_app.models import Switch, TaskSource
from queue_app.registry import TaskContext
from queue_app.services import task_enqueue
from queue_app.switches import switch_set, switch_value, switches_state

pytestmark = pytest.mark.django_db


def test_every_declared_switch_has_a_row_after_migrate():
    assert set(Switch.objects.values_list("key", flat=True)) >= {
        "applications.enabled",
        "applications.dry_run",
        "applications.daily_cap",
        "discovery.scheduled",
    }


def test_without_an_override_the_environment_gives_the_value(settings):
    settings.APPLICATIONS_ENABLED = False
    settings.APPLICATIONS_DAILY_CAP = 7
    assert switch_value("applications.enabled") is False and conf.enabled() is False
    assert conf.daily_cap() == 7
    settings.APPLICATIONS_DAILY_CAP = 9
    assert conf.daily_cap() == 9  # read when called, never cached


def test_an_override_wins_is_audited_and_empty_goes_back_to_the_default(settings, user):
    settings.APPLICATIONS_ENABLED = False
    switch_set(
        key="applications.enabled", value="on", actor=Actor(user=user, source=TaskSource.ADMIN, remote_addr="10.0.0.9")
    )
    assert conf.enabled() is True
    assert conf.safety_settings()["APPLICATIONS_ENABLED"] is True
    entry = AuditEntry.objects.get(action="switch.set")
    assert (entry.object_type, entry.object_id, entry.actor, entry.source) == (
        "switch",
        "applications.enabled",
        user,
        "admin",
    )
    assert entry.before == {"value": None, "effective": "false"}
    assert entry.after == {"value": "true", "effective": "true"}
    switch_set(key="applications.enabled", value="")
    assert conf.enabled() is False


def test_bad_values_and_unknown_switches_are_refused_clearly():
    with pytest.raises(ValidationFailed, match="true or false"):
        switch_set(key="applications.dry_run", value="maybe")
    with pytest.raises(ValidationFailed, match="cannot be below 0"):
        switch_set(key="applications.daily_cap", value=-1)
    with pytest.raises(ValidationFailed, match="whole number"):
        switch_set(key="applications.daily_cap", value="ten")
    with pytest.raises(NotFound, match="Known switches"):
        switch_set(key="nope", value=True)
    assert not AuditEntry.objects.filter(action="switch.set").exists()


def test_switches_state_lists_default_override_and_value(settings):
    settings.APPLICATIONS_DAILY_CAP = 10
    switch_set(key="applications.daily_cap", value=3)
    row = next(r for r in switches_state() if r["key"] == "applications.daily_cap")
    assert (row["default"], row["override"], row["value"], row["setting"]) == (10, 3, 3, "APPLICATIONS_DAILY_CAP")


def test_the_admin_flips_a_switch_through_the_service(client, django_user_model, settings):
    settings.APPLICATIONS_ENABLED = False
    admin_user = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(admin_user)
    listing = client.get(reverse("admin:queue_app_switch_changelist")).content.decode()
    assert "applications.enabled" in listing and "(environment default)" in listing
    switch = Switch.objects.get(key="applications.enabled")
    url = reverse("admin:queue_app_switch_change", args=[switch.id])

    bad = client.post(url, {"value": "perhaps"})
    assert bad.status_code == 200 and "true or false" in bad.content.decode()
    assert client.post(url, {"value": "true"}).status_code == 302

    assert conf.enabled() is True
    entry = AuditEntry.objects.get(action="switch.set")
    assert (entry.actor, entry.source) == (admin_user, "admin")


def test_scheduled_discovery_can_be_switched_off_without_stopping_manual_runs():
    switch_set(key="discovery.scheduled", value=False)
    scheduled = task_enqueue(task_type="job_discovery", payload={}, actor=Actor.scheduler())
    manual = task_enqueue(task_type="job_discovery", payload={}, actor=Actor(source=TaskSource.API))

    def run(task):
        return job_tasks.job_discovery({}, TaskContext(str(task.id), "job_discovery", 1, 0))

    assert "switched off" in run(scheduled)["skipped"]
    assert "fanned_out" in run(manual)  # no enabled profiles: an empty fan-out, but it ran
    switch_set(key="discovery.scheduled", value=True)
    assert "fanned_out" in run(scheduled)
