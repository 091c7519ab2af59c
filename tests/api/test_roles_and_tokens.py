"""setup_roles creates the viewer and operator groups; api_token creates, lists and revokes tokens."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from queue_app.models import AuditEntry

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
    assert Token.objects.get(user=viewer).key == key
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/queue/tasks/").status_code == 200
    assert "viewer" in run("api_token", "list") and key not in run("api_token", "list")
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


def test_tokens_are_managed_in_the_admin(django_user_model, client):
    admin_user = django_user_model.objects.create_superuser(username="boss", password="pw-boss")
    client.force_login(admin_user)
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 200
