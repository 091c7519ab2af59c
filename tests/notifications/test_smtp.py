"""The email channel against a real SMTP server process (aiosmtpd on 127.0.0.1), through Django's SMTP backend."""

from __future__ import annotations

import contextlib
import mailbox
import os
import signal
import socket
import subprocess
import sys
import time
from email.header import decode_header, make_header

import pytest

from notifications.models import Delivery, DeliveryStatus
from notifications.services import notify_job_alert
from tests.notifications.conftest import run_pending_sends

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(tmp_path):
    """`python -m aiosmtpd` storing what it receives in a Maildir; stopped (by its pid) at teardown."""
    port, maildir = free_port(), tmp_path / "maildir"
    log = open(tmp_path / "smtp.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(maildir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"aiosmtpd did not start: {(tmp_path / 'smtp.log').read_text()}")
        time.sleep(0.05)
    yield port, maildir
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    log.close()


def test_a_job_alert_email_reaches_a_real_smtp_server(make_channel, alert_job, smtp_server, settings):
    port, maildir = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "alerts@example.com"
    make_channel("email", target="me@example.com", events=["job_alert"])
    notify_job_alert(alert_job)
    assert run_pending_sends()[0]["outcome"] == "sent"
    deadline = time.monotonic() + 10
    while not (messages := list(mailbox.Maildir(maildir))) and time.monotonic() < deadline:
        time.sleep(0.05)
    [message] = messages
    assert str(make_header(decode_header(message["Subject"]))) == "86/100 · Fix <script> & Django > 5 upgrade"
    assert message["To"] == "me@example.com" and message["From"] == "alerts@example.com"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    assert "Budget: Fixed $1,500" in parts["text/plain"]
    assert "Fix &lt;script&gt; &amp; Django &gt; 5 upgrade" in parts["text/html"]
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_an_unreachable_smtp_server_is_retried(make_channel, alert_job, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    make_channel("email", target="me@example.com", events=["job_alert"])
    notify_job_alert(alert_job)
    outcome = run_pending_sends()[0]
    assert outcome["outcome"] == "retrying" and "SMTP server unreachable" in outcome["error"]
