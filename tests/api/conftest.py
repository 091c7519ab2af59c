"""Users per role and API clients authenticated as them (token auth, like a real client)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.actor import Actor
from core.permissions import OPERATOR, VIEWER, role_grant, token_create


def _client_for(user) -> APIClient:
    client = APIClient()
    _token, key = token_create(user=user, actor=Actor.system())
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user(username="viewer", password="pw-viewer")
    role_grant(user=user, role=VIEWER)
    return user


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user(username="op", password="pw-op")
    role_grant(user=user, role=OPERATOR)
    return user


@pytest.fixture
def no_role_user(django_user_model):
    return django_user_model.objects.create_user(username="nobody", password="pw-nobody")


@pytest.fixture
def viewer_client(viewer):
    return _client_for(viewer)


@pytest.fixture
def operator_client(operator):
    return _client_for(operator)


@pytest.fixture
def no_role_client(no_role_user):
    return _client_for(no_role_user)


@pytest.fixture
def anonymous_client():
    return APIClient()
