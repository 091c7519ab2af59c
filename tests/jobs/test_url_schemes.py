"""Only http(s) links are stored or rendered: a `javascript:` job URL never becomes a clickable link."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from model_bakery import baker

from jobs import services
from jobs.models import Job
from jobs.sources.base import JobRecord
from proposals.models import Proposal, ProposalVersion
from upwork_automation.weblinks import is_http_url

pytestmark = pytest.mark.django_db

UNSAFE = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "data:text/html,<script>1</script>",
    "ftp://x.io/a",
]


@pytest.mark.parametrize("url", UNSAFE)
def test_non_http_urls_are_not_links(url):
    assert not is_http_url(url)
    with pytest.raises(ValidationError):
        Job(upwork_id="~1", url=url, title="t").full_clean(exclude=["profile"])


def test_http_and_https_urls_are_links():
    assert is_http_url("https://www.upwork.com/jobs/~01abc") and is_http_url("http://127.0.0.1:8765/jobs/~1")


@pytest.mark.parametrize("url", UNSAFE)
def test_a_discovered_job_with_a_non_http_url_is_stored_without_it(url):
    services.jobs_upsert(records=[JobRecord(upwork_id="~01evil", url=url, title="Evil job")])

    assert Job.objects.get(upwork_id="~01evil").url == ""


def test_the_proposal_admin_shows_a_stored_javascript_url_as_text(client, django_user_model):
    """Rows written before the check (or by hand) are rendered safely: no javascript: href anywhere."""
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    job = baker.make(Job, upwork_id="~01x", url="javascript:alert(document.cookie)", title="Looks normal")
    proposal = baker.make(Proposal, job=job, current_version=1)
    baker.make(ProposalVersion, proposal=proposal, number=1, text="Hi", google_doc_url="javascript:alert(2)")

    page = client.get(f"/admin/proposals/proposal/{proposal.id}/change/").content.decode()

    assert "Looks normal" in page
    assert 'href="javascript:' not in page.lower()
