"""Every write a person makes leaves an audit row; the audit log refuses TRUNCATE."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from model_bakery import baker

from core.actor import Actor
from core.models import AuditEntry
from core.permissions import OPERATOR, VIEWER, role_grant
from jobs.models import BrowserSession, SearchProfile
from proposals.models import Attachment, FreelancerProfile

pytestmark = pytest.mark.django_db


def _actions(object_type: str) -> list[tuple[str, str, str]]:
    rows = AuditEntry.objects.filter(object_type=object_type).order_by("created_at", "id")
    return [(row.action, row.actor_name, row.source) for row in rows]


def _storage_state(value: str = "secret-cookie") -> dict:
    expires = int(time.time()) + 86400
    return {"cookies": [{"name": "sid", "value": value, "domain": ".upwork.com", "expires": expires}], "origins": []}


def test_truncating_the_audit_log_is_refused():
    AuditEntry.objects.create(actor_name="system", source="system", action="x.y", object_type="x", object_id="1")
    with (
        pytest.raises(DatabaseError, match="cannot be truncated"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the new row's deferred FK check, out of the way
        cursor.execute("SET LOCAL upwork.allow_audit_truncate = 'off'")  # as any connection but the tests'
        cursor.execute(f"TRUNCATE {AuditEntry._meta.db_table}")  # the table core took over from queue_app
    assert AuditEntry.objects.filter(action="x.y").exists()


def test_browser_session_import_replace_revoke_are_audited_without_cookies(operator_client):
    created = operator_client.post(
        "/api/jobs/sessions/", {"name": "main", "storage_state": _storage_state()}, format="json"
    )
    assert created.status_code == 201, created.content
    replaced = operator_client.post(
        "/api/jobs/sessions/", {"name": "main", "storage_state": _storage_state("v2"), "replace": True}, format="json"
    )
    assert replaced.status_code == 201, replaced.content
    session_id = BrowserSession.objects.get().id
    assert operator_client.post(f"/api/jobs/sessions/{session_id}/revoke/").status_code == 200
    assert _actions("browser_session") == [
        ("browser_session.import", "op", "api"),
        ("browser_session.replace", "op", "api"),
        ("browser_session.revoke", "op", "api"),
    ]
    assert "secret-cookie" not in str(list(AuditEntry.objects.values_list("before", "after")))


def test_search_profile_writes_are_audited(operator_client):
    response = operator_client.post("/api/jobs/profiles/", {"name": "django", "keywords": ["django"]}, format="json")
    assert response.status_code == 201, response.content
    profile_id = response.json()["id"]
    patched = operator_client.patch(f"/api/jobs/profiles/{profile_id}/", {"enabled": False}, format="json")
    assert patched.status_code == 200, patched.content
    assert operator_client.delete(f"/api/jobs/profiles/{profile_id}/").status_code == 204
    assert not SearchProfile.objects.exists()
    assert _actions("searchprofile") == [
        ("searchprofile.create", "op", "api"),
        ("searchprofile.update", "op", "api"),
        ("searchprofile.delete", "op", "api"),
    ]
    update = AuditEntry.objects.get(action="searchprofile.update")
    assert update.before == {"enabled": True} and update.after == {"enabled": False}


def test_freelancer_profile_and_attachment_writes_are_audited(operator_client):
    response = operator_client.post(
        "/api/proposals/profiles/", {"name": "Ada", "title": "Django developer"}, format="json"
    )
    assert response.status_code == 201, response.content
    attachment = baker.make(Attachment, title="Portfolio")
    assert operator_client.delete(f"/api/proposals/attachments/{attachment.id}/").status_code == 204
    assert _actions("freelancerprofile") == [("freelancerprofile.create", "op", "api")]
    assert _actions("attachment") == [("attachment.delete", "op", "api")]
    assert FreelancerProfile.objects.filter(name="Ada").exists()


def test_user_and_role_changes_in_the_admin_are_audited(client, django_user_model):
    boss = django_user_model.objects.create_superuser(username="boss", password="pw")
    client.force_login(boss)
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": "carol",
            "password1": "a-Long-pass-123",
            "password2": "a-Long-pass-123",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content
    carol = django_user_model.objects.get(username="carol")
    role_grant(user=carol, role=VIEWER, actor=Actor.cli(boss))
    operator_group = Group.objects.get(name=OPERATOR)
    response = client.post(
        f"/admin/auth/user/{carol.pk}/change/",
        {
            "username": "carol",
            "is_active": "on",
            "is_staff": "on",
            "groups": [operator_group.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content
    assert [a for a, _, _ in _actions("user")] == ["user.create", "user.role_grant", "user.update"]
    update = AuditEntry.objects.get(action="user.update")
    assert update.actor_name == "boss" and update.after["is_staff"] is True
    assert update.after["groups"] == ["operator"] and update.before["groups"] == ["viewer"]
    assert "pbkdf2" not in str(list(AuditEntry.objects.values_list("before", "after")))
    assert "md5" not in str(list(AuditEntry.objects.values_list("before", "after")))

    response = client.post(f"/admin/auth/group/{operator_group.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _actions("group")[-1] == ("group.delete", "boss", "admin")
