"""The GraphQL client and OAuth flow against the sandbox's stand-ins: pagination, refresh, errors, rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ValidationFailed
from jobs import selectors, services
from jobs.errors import ApiAuthError, ApiError, ApiRateLimited
from jobs.models import UpworkOAuthToken
from jobs.sources.base import SearchSpec
from jobs.sources.upwork_api import TokenSet, UpworkGraphQLClient, UpworkOAuthClient
from tests.jobs.conftest import authorization_code

pytestmark = pytest.mark.django_db


def _client(api_token, **kwargs) -> UpworkGraphQLClient:
    tokens = TokenSet(
        access_token=api_token.access_token, refresh_token=api_token.refresh_token, expires_at=api_token.expires_at
    )
    return UpworkGraphQLClient(tokens=tokens, **kwargs)


def test_authorization_code_flow_stores_tokens_encrypted(sandbox):
    store: dict = {}
    code, state = authorization_code(sandbox, store)
    token = services.oauth_connect(code=code, state=state, store=store)
    assert token.access_token in sandbox.state.access_tokens
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM jobs_upworkoauthtoken WHERE id = %s", [token.id])
        stored_access, stored_refresh = cursor.fetchone()
    assert token.access_token not in stored_access and stored_access.startswith("fernet:")
    assert token.refresh_token not in stored_refresh


def test_a_tampered_state_is_refused(sandbox):
    store: dict = {}
    code, _state = authorization_code(sandbox, store)
    with pytest.raises(ValidationFailed):
        services.oauth_connect(code=code, state="forged", store=store)
    assert not UpworkOAuthToken.objects.exists()


def test_search_follows_cursors_across_pages(sandbox, api_token):
    client = _client(api_token)
    records, pages = client.search_jobs(SearchSpec(strategy="keywords", query="salesforce"), page_size=4, max_pages=5)
    expected = [j for j in sandbox.state.jobs if "salesforce" in (j.title + j.description + " ".join(j.skills)).lower()]
    assert len(expected) == 6
    assert pages == 2  # 4 on the first page, 2 on the last
    assert [r.upwork_id for r in records] == [j.ciphertext for j in expected]


def test_search_stops_at_the_page_cap(sandbox, api_token):
    records, pages = _client(api_token).search_jobs(
        SearchSpec(strategy="skills", skills=("Python",)), page_size=2, max_pages=2
    )
    assert pages == 2
    assert len(records) == 4


def test_node_fields_are_mapped_onto_the_record(sandbox, api_token):
    job = sandbox.state.jobs[3]  # fixed price, unverified payment
    records, _ = _client(api_token).search_jobs(
        SearchSpec(strategy="keywords", query=job.title), page_size=5, max_pages=1
    )
    record = next(r for r in records if r.upwork_id == job.ciphertext)
    assert record.title == job.title
    assert record.job_type == "fixed" and float(record.budget) == job.budget
    assert record.client_payment_verified is job.payment_verified is False
    assert float(record.client_total_spent) == job.client_total_spent
    assert record.client_hires == job.client_hires
    assert record.proposals_tier == job.proposals_tier
    assert record.connects_required == job.connects_required
    assert record.posted_at == job.posted_at
    assert record.skills == job.skills
    assert record.screening_questions == job.screening_questions
    assert record.url == f"{sandbox.url}/jobs/{job.ciphertext}"


def test_screening_questions_are_read_in_their_order(sandbox, api_token):
    job = sandbox.state.jobs[0]  # every third sandbox job asks questions
    assert len(job.screening_questions) == 2
    records, _ = _client(api_token).search_jobs(
        SearchSpec(strategy="keywords", query=job.title), page_size=5, max_pages=1
    )
    record = next(r for r in records if r.upwork_id == job.ciphertext)
    assert record.screening_questions == job.screening_questions


def test_an_expired_token_is_refreshed_once_and_the_request_repeated(sandbox, api_token):
    sandbox.state.expire_access_tokens()  # the API now answers 401
    seen = []
    client = _client(api_token, on_refresh=seen.append)
    records, _ = client.search_jobs(SearchSpec(strategy="keywords", query="python"), page_size=10, max_pages=1)
    assert records
    assert client.refreshes == 1
    assert seen[0].access_token != api_token.access_token
    assert sandbox.state.counters["token"] == 2  # the code exchange, then one refresh


def test_a_token_past_its_expiry_is_refreshed_before_the_call(sandbox, api_token):
    client = _client(api_token)
    client.tokens.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    client.execute("query { marketplaceJobPostingsSearch { totalCount } }")
    assert client.refreshes == 1
    assert sandbox.state.counters["graphql"] == 1  # no wasted 401 round trip


def test_a_refused_refresh_raises_a_non_retryable_auth_error(sandbox, api_token):
    sandbox.state.expire_access_tokens()
    sandbox.state.refresh_tokens.clear()
    with pytest.raises(ApiAuthError) as caught:
        _client(api_token).execute("query { marketplaceJobPostingsSearch { totalCount } }")
    assert caught.value.retryable is False


def test_rate_limit_reply_is_waited_out_then_retried(sandbox, api_token):
    sandbox.state.config.update(rate_limit_remaining=1, rate_limit_retry_after=0)
    records, _ = _client(api_token).search_jobs(
        SearchSpec(strategy="keywords", query="react"), page_size=10, max_pages=1
    )
    assert records
    assert sandbox.state.counters["graphql"] == 2


def test_persistent_rate_limit_raises_a_retryable_error(sandbox, api_token, settings):
    settings.UPWORK_API_RATE_LIMIT_RETRIES = 1
    sandbox.state.config.update(rate_limit_remaining=5, rate_limit_retry_after=0)
    with pytest.raises(ApiRateLimited) as caught:
        _client(api_token).execute("query { marketplaceJobPostingsSearch { totalCount } }")
    assert caught.value.retryable is True
    assert caught.value.retry_after == 0


def test_graphql_errors_raise_with_the_message(sandbox, api_token):
    sandbox.state.config["graphql_error"] = "Field 'foo' is not defined"
    with pytest.raises(ApiError, match="Field 'foo' is not defined") as caught:
        _client(api_token).execute("query { marketplaceJobPostingsSearch { totalCount } }")
    assert caught.value.retryable is False


def test_refreshed_tokens_are_saved_after_a_search_run(sandbox, api_token):
    sandbox.state.expire_access_tokens()
    run = services.search_run(specs=[SearchSpec(strategy="keywords", query="python")], source="api")
    assert run.source == "api" and run.records
    stored = selectors.oauth_token_active()
    assert stored.access_token != api_token.access_token
    assert stored.refresh_token in sandbox.state.refresh_tokens


def test_missing_client_id_is_explained(sandbox, settings):
    settings.UPWORK_CLIENT_ID = ""
    with pytest.raises(ApiAuthError, match="UPWORK_CLIENT_ID"):
        UpworkOAuthClient().exchange_code(code="x", code_verifier="v")


def test_connect_and_callback_endpoints_complete_the_flow(sandbox, api_client):
    import requests

    authorize_url = api_client.get("/api/jobs/oauth/connect/").json()["authorize_url"]
    redirect = requests.get(authorize_url, allow_redirects=False, timeout=5).headers["Location"]
    query = redirect.split("?", 1)[1]
    response = api_client.get(f"/api/jobs/oauth/callback/?{query}")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "active"
    assert "access_token" not in response.json()
    assert api_client.get("/api/jobs/oauth/callback/?code=x&state=forged").status_code == 400


def test_a_token_refused_after_refresh_marks_the_connection_for_reauthorization(sandbox, api_token):
    sandbox.state.config["access_token_ttl"] = 0  # every new token is born expired
    sandbox.state.expire_access_tokens()
    with pytest.raises(ApiAuthError):
        services.search_run(specs=[SearchSpec(strategy="keywords", query="python")], source="api")
    token = UpworkOAuthToken.objects.get()
    assert token.status == "needs_reauth" and "refused" in token.last_error
    assert token.refresh_token in sandbox.state.refresh_tokens  # the rotated refresh token was still saved
    assert selectors.oauth_token_active() is None
