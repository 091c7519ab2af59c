"""Admin login: repeated wrong passwords lock the username and the address (django-axes); staff see it; it expires."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from freezegun import freeze_time

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def _login(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def _logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser(username="boss", password="right-password")


def test_wrong_passwords_lock_the_username_even_with_the_right_password_then(boss, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        response = _login(client, "boss", "wrong")
        assert not _logged_in(response)
    locked = _login(client, "boss", "right-password")
    assert locked.status_code == 429 and not _logged_in(locked)
    # From another address too: the username is locked, not only the address.
    assert _login(Client(), "boss", "right-password", address="10.9.9.9").status_code == 429


def test_an_address_guessing_many_usernames_is_locked(boss, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for name in ("alice", "bob", "carol"):
        _login(client, name, "guess", address="10.0.0.7")
    assert _login(client, "boss", "right-password", address="10.0.0.7").status_code == 429
    assert _logged_in(_login(Client(), "boss", "right-password", address="10.0.0.8"))


def test_the_lockout_is_shown_to_staff_and_expires(boss, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    for _ in range(2):
        _login(Client(), "boss", "wrong")
    assert AccessAttempt.objects.filter(username="boss", failures_since_start__gte=2).exists()

    admin = Client()
    admin.force_login(boss)  # force_login bypasses authenticate(): still works for tests and sessions
    page = admin.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and b"boss" in page.content

    with freeze_time(timedelta(minutes=16)):
        assert _logged_in(_login(Client(), "boss", "right-password"))
