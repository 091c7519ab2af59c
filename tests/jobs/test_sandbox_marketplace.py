"""The sandbox behaves like Upwork's pages: login wall, CAPTCHA switch, proposal form with uploads, submissions."""

from __future__ import annotations

import re

import pytest
import requests

from scripts.sandbox.make_state import sandbox_storage_state
from scripts.sandbox.server import SESSION_COOKIE


@pytest.fixture
def http(sandbox):
    state = sandbox_storage_state(sandbox.url)
    session = requests.Session()
    session.cookies.set(SESSION_COOKIE, state["cookies"][0]["value"])
    yield session
    session.close()


def test_protected_pages_redirect_to_login_without_a_session(sandbox):
    response = requests.get(f"{sandbox.url}/nx/search/jobs/?q=python", allow_redirects=False, timeout=5)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/ab/account-security/login?redirect_url=")


def test_captcha_switch_shows_the_challenge_wall(sandbox, http):
    requests.post(f"{sandbox.url}/__sandbox__/config", json={"captcha": True}, timeout=5)
    response = http.get(f"{sandbox.url}/nx/search/jobs/?q=python", timeout=5)
    assert response.status_code == 403
    assert 'id="challenge-form"' in response.text


def test_search_paginates(sandbox, http):
    first = http.get(f"{sandbox.url}/nx/search/jobs/?q=salesforce&per_page=4", timeout=5).text
    assert first.count('data-test="JobTile"') == 4
    assert 'data-test="pagination-next"' in first


def test_proposal_form_submission_is_recorded_with_answers_and_attachments(sandbox, http):
    job = next(j for j in sandbox.state.jobs if j.job_type == "hourly" and j.screening_questions)
    form = http.get(f"{sandbox.url}/ab/proposals/job/{job.ciphertext}/apply/", timeout=5).text
    token = re.search(r'name="form_token" value="([^"]+)"', form).group(1)
    response = http.post(
        f"{sandbox.url}/ab/proposals/job/{job.ciphertext}/apply/",
        data={
            "form_token": token,
            "cover_letter": "Hello, I have built this exact thing twice before.",
            "charge_rate": "55",
            "question_0": "Two similar dashboards.",
            "question_1": "Full time from Monday.",
            "boost": "on",
            "boost_connects": "5",
        },
        files=[("attachments", ("portfolio.pdf", b"%PDF-1.4 sandbox", "application/pdf"))],
        timeout=5,
    )
    assert response.status_code == 200
    assert 'data-test="proposal-reference">PR-000001<' in response.text
    submissions = requests.get(f"{sandbox.url}/__sandbox__/submissions", timeout=5).json()
    assert submissions[0]["job_id"] == job.ciphertext
    assert submissions[0]["charge_rate"] == 55.0
    assert submissions[0]["answers"][job.screening_questions[1]] == "Full time from Monday."
    assert submissions[0]["attachments"][0]["filename"] == "portfolio.pdf"
    assert submissions[0]["boost_connects"] == 5
    listing = http.get(f"{sandbox.url}/nx/proposals/", timeout=5).text
    assert 'data-reference="PR-000001"' in listing


def test_incomplete_proposal_is_refused_with_errors(sandbox, http):
    job = next(j for j in sandbox.state.jobs if j.job_type == "fixed")
    form = http.get(f"{sandbox.url}/ab/proposals/job/{job.ciphertext}/apply/", timeout=5).text
    token = re.search(r'name="form_token" value="([^"]+)"', form).group(1)
    response = http.post(
        f"{sandbox.url}/ab/proposals/job/{job.ciphertext}/apply/",
        files={"form_token": (None, token), "cover_letter": (None, "short")},
        timeout=5,
    )
    assert 'data-test="form-error"' in response.text
    assert requests.get(f"{sandbox.url}/__sandbox__/submissions", timeout=5).json() == []
