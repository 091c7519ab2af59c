"""setup_roles creates the viewer and operator groups; api_token creates, lists and revokes tokens."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from core.models import ApiToken, AuditEntry
from core.permissions import token_create

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_setup_roles_creates_groups_with_view_and_operate_permissions():
    Group.objects.filter(name__in=["viewer", "operator"]).delete()
    run("setup_roles")
    viewer = set(Group.objects.get(name="viewer").permissions.values_list("codename", flat=True))
    operator = set(Group.objects.get(name="operator").permissions.values_list("codename", flat=True))
    assert {"view_task", "view_scheduledtask", "view_auditentry"} <= viewer
    assert not {codename for codename in viewer if not codename.startswith("view_")}
    assert {"change_task", "add_scheduledtask", "change_scheduledtask", "delete_scheduledtask"} <= operator
    assert viewer < operator
    assert not {"change_auditentry", "delete_auditentry"} & operator
    assert {"approve_proposal", "approve_application", "change_job", "change_application"} <= operator
    assert not {"add_apitoken", "delete_apitoken"} & operator  # tokens: superusers only
    run("setup_roles")  # again: no duplicates, same permissions
    assert Group.objects.filter(name__in=["viewer", "operator"]).count() == 2


def test_setup_roles_grants_a_role_to_a_user(django_user_model):
    user = django_user_model.objects.create_user(username="alice")
    run("setup_roles", "--user", "alice", "--role", "viewer")
    assert list(user.groups.values_list("name", flat=True)) == ["viewer"]
    run("setup_roles", "--user", "alice", "--role", "operator")
    assert list(user.groups.values_list("name", flat=True)) == ["operator"]
    with pytest.raises(CommandError, match="No user 'bob'"):
        run("setup_roles", "--user", "bob", "--role", "viewer")


def test_api_token_create_list_revoke(viewer):
    key = run("api_token", "create", "viewer").strip()
    token = ApiToken.objects.get(user=viewer)
    assert key.startswith("uwa_") and key.startswith(token.token_key) and len(key) > len(token.token_key) + 40
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/queue/tasks/").status_code == 200
    listing = run("api_token", "list")
    assert "viewer" in listing and key not in listing and token.token_key in listing
    with pytest.raises(CommandError, match="already has a token"):
        run("api_token", "create", "viewer")
    assert "Revoked" in run("api_token", "revoke", "viewer")
    assert client.get("/api/queue/tasks/").status_code == 401
    with pytest.raises(CommandError, match="has no token"):
        run("api_token", "revoke", "viewer")
    assert list(AuditEntry.objects.filter(object_type="token").values_list("action", "source")) == [
        ("token.revoke", "cli"),
        ("token.create", "cli"),
    ]


def test_api_token_needs_an_existing_user():
    with pytest.raises(CommandError, match="No user 'ghost'"):
        run("api_token", "create", "ghost")
    with pytest.raises(CommandError, match="Name the user"):
        run("api_token", "revoke")


def test_keys_are_stored_hashed_and_expire(viewer):
    token, key = token_create(user=viewer)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM queue_app_apitoken")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert key not in stored  # only the digest and the prefix
    assert token.expiry - timezone.now() > timedelta(days=89)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/queue/tasks/").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
    with freeze_time(token.expiry + timedelta(seconds=1)):
        assert client.get("/api/queue/tasks/").status_code == 401
    assert ApiToken.objects.filter(pk=token.pk).exists()  # refused, not silently deleted (revoke is audited)


def test_tokens_are_managed_in_the_admin_by_prefix_and_audited(django_user_model, client, viewer):
    admin_user = django_user_model.objects.create_superuser(username="boss", password="pw-boss")
    client.force_login(admin_user)
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404  # DRF's admin of full keys is gone

    response = client.post("/admin/core/apitoken/add/", {"user": viewer.pk}, follow=True)
    assert response.status_code == 200
    token = ApiToken.objects.get(user=viewer)
    shown = [str(m) for m in response.context["messages"] if "shown only now" in str(m)]
    key = shown[0].rsplit(" ", 1)[1]
    assert APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/queue/tasks/").status_code == 200

    listing = client.get("/admin/core/apitoken/").content.decode()
    # The prefix, never the key (the digest is the row's id in links: not a credential).
    assert f"{token.token_key}…" in listing and key not in listing

    response = client.post(
        "/admin/core/apitoken/", {"action": "delete_selected", "_selected_action": [token.pk], "post": "yes"}
    )
    assert response.status_code == 302 and not ApiToken.objects.exists()
    rows = AuditEntry.objects.filter(object_type="token").order_by("created_at", "id")
    assert [(r.action, r.source, r.actor_name) for r in rows] == [
        ("token.create", "admin", "boss"),
        ("token.revoke", "admin", "boss"),
    ]
    assert key not in str(rows[0].after)
