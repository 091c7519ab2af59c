"""`make demo`: the demo of docs/discovery.md, verbatim — the sandbox starts, web, workers and scheduler talk to it,
a first discovery finds jobs and the template drafter drafts their proposals, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import re

import psycopg
import pytest
import requests

from tests.conftest import descendants, still_running, subprocess_env, wait_for
from tests.services import free_port
from tests.test_deployment import answers, start_make_run, stop_make_run, wait_until_open


@pytest.fixture
def demo_database(settings):
    """A database of this run's own for the demo (dropped at the end), on the server the tests use."""
    test_url = subprocess_env()["DATABASE_URL"]
    server, _ = test_url.rsplit("/", 1)
    name = f"demo_{settings.TEST_RUN_ID}"
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def count(url: str, table: str) -> int:
    with psycopg.connect(url, connect_timeout=3) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - our own table names


@pytest.mark.django_db(transaction=True)
def test_make_demo_finds_jobs_in_the_sandbox_drafts_them_and_stops_on_ctrl_c(tmp_path, settings, demo_database):
    redis_url = settings.REDIS_URL.rsplit("/", 1)[0] + "/2"  # not the db the other tests flush
    proc, log_path, port = start_make_run(
        tmp_path,
        "demo",
        DATABASE_URL=demo_database,
        REDIS_URL=redis_url,
        SANDBOX_PORT=str(free_port()),
        PROPOSAL_GENERATOR="openai",  # what a user's .env may say: the demo uses the template drafter anyway
        UPWORK_BASE_URL="",
    )
    try:
        wait_until_open(proc, log_path, port, timeout=180)
        output = log_path.read_text()
        sandbox = re.search(r"sandbox marketplace \(a stand-in, not Upwork\) on (http://127\.0\.0\.1:(\d+))", output)
        assert sandbox, output[-3000:]
        assert "the first discovery is queued" in output

        wait_for(lambda: count(demo_database, "jobs_job") > 0, timeout=90, interval=1, message="discovered jobs")
        wait_for(
            lambda: count(demo_database, "proposals_proposal") > 0, timeout=90, interval=1, message="drafted proposals"
        )
        with psycopg.connect(demo_database) as conn:
            source = conn.execute("SELECT source FROM proposals_proposalversion LIMIT 1").fetchone()[0]
        assert source == "template"

        browser = requests.Session()  # what a person does next: log in and look at the jobs
        login = f"http://127.0.0.1:{port}/admin/login/"
        browser.get(login, timeout=10)
        page = browser.post(
            login,
            data={"username": "runadmin", "password": "run-admin-password", "next": "/admin/jobs/job/",
                  "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            headers={"Referer": login}, timeout=10,
        )  # fmt: skip
        assert page.status_code == 200 and "/admin/jobs/job/" in page.url
        assert "Select job to change" in page.text or "jobs" in page.text.lower()
        everything = descendants(proc.pid)
    finally:
        output = stop_make_run(proc, log_path)

    assert proc.returncode == 0, output[-3000:]
    assert not answers(port) and not answers(int(sandbox[2]))
    wait_for(lambda: not still_running(everything), timeout=10, message="every demo process gone after Ctrl-C")
