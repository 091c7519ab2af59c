"""Google Docs export through google-api-python-client against HttpMockSequence: the requests and their bodies."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlparse

import pytest
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpMockSequence
from model_bakery import baker

from proposals import services
from proposals.models import Attachment, ProposalStatus, ProposalVersion
from queue_app.models import Task

pytestmark = pytest.mark.django_db

OK = {"status": "200", "content-type": "application/json"}


@pytest.fixture
def google(settings):
    settings.GOOGLE_SERVICE_ACCOUNT_FILE = "/nonexistent/service-account.json"  # never read: tests pass http
    settings.GOOGLE_DRIVE_FOLDER_ID = "folder-123"
    settings.GOOGLE_SHARE_WITH = "reviewer@example.com, anyone"
    settings.GOOGLE_SHARE_ROLE = "commenter"
    settings.GOOGLE_API_NUM_RETRIES = 0


@pytest.fixture
def approved_version(settings, job, profile):
    settings.PROPOSAL_GENERATOR = "template"
    proposal = services.proposal_generate(job_id=job.id)
    piece = baker.make(Attachment, title="Logistics dashboard", skills=["Django"])
    services.proposal_attachments_set(proposal_id=proposal.id, attachment_ids=[piece.id], reason="Same domain.")
    approved = services.proposal_approve(proposal_id=proposal.id)
    assert approved.status == ProposalStatus.APPROVED
    return approved.approved_version


def _query(uri: str) -> dict:
    return {key: values[0] for key, values in parse_qs(urlparse(uri).query).items()}


def _body(raw) -> dict:
    return json.loads(raw) if raw else {}


def _full_sequence(doc_id: str = "doc-1") -> list:
    return [
        (OK, json.dumps({"documentId": doc_id, "title": "t"})),
        (OK, json.dumps({"documentId": doc_id, "replies": [{}]})),
        (OK, json.dumps({"parents": ["root-of-sa"]})),
        (OK, json.dumps({"id": doc_id, "parents": ["folder-123"], "webViewLink": f"https://docs.example/{doc_id}"})),
        (OK, json.dumps({"id": "perm-1"})),
        (OK, json.dumps({"id": "perm-2"})),
    ]


def test_an_approved_version_becomes_one_filed_and_shared_document(google, approved_version, job):
    http = HttpMockSequence(_full_sequence())
    result = services.proposal_export(version_id=approved_version.id, http=http)

    assert result == {"document_id": "doc-1", "url": "https://docs.example/doc-1"}
    (create, fill, get_parents, move, share_user, share_anyone) = http.request_sequence

    uri, method, body, _ = create
    assert (urlparse(uri).path, method) == ("/v1/documents", "POST")
    assert _body(body) == {"title": f"Proposal - {job.title} (v1)"}

    uri, method, body, _ = fill
    assert (urlparse(uri).path, method) == ("/v1/documents/doc-1:batchUpdate", "POST")
    [request] = _body(body)["requests"]
    inserted = request["insertText"]
    assert inserted["location"] == {"index": 1}
    assert inserted["text"].startswith(f"Proposal for: {job.title}\n{job.url}\nVersion 1\n\n")
    assert approved_version.text.strip() in inserted["text"]
    assert "Attachments:\n- Logistics dashboard: Same domain.\n" in inserted["text"]

    uri, method, _, _ = get_parents
    assert (urlparse(uri).path, method) == ("/drive/v3/files/doc-1", "GET")
    assert _query(uri)["fields"] == "parents"

    uri, method, body, _ = move
    assert (urlparse(uri).path, method) == ("/drive/v3/files/doc-1", "PATCH")
    query = _query(uri)
    assert (query["addParents"], query["removeParents"]) == ("folder-123", "root-of-sa")

    uri, method, body, _ = share_user
    assert (urlparse(uri).path, method) == ("/drive/v3/files/doc-1/permissions", "POST")
    assert _body(body) == {"type": "user", "role": "commenter", "emailAddress": "reviewer@example.com"}
    assert _query(uri)["sendNotificationEmail"] == "false"
    uri, method, body, _ = share_anyone
    assert _body(body) == {"type": "anyone", "role": "commenter"}

    approved_version.refresh_from_db()
    assert approved_version.google_doc_id == "doc-1"
    assert approved_version.google_doc_url == "https://docs.example/doc-1"
    assert approved_version.exported_at is not None


def test_a_failed_move_keeps_the_document_and_the_retry_reuses_it(google, approved_version):
    first = HttpMockSequence(
        [*_full_sequence()[:3], ({"status": "500"}, json.dumps({"error": {"message": "backend error"}}))]
    )
    with pytest.raises(HttpError):
        services.proposal_export(version_id=approved_version.id, http=first)
    approved_version.refresh_from_db()
    assert approved_version.google_doc_id == "doc-1" and approved_version.exported_at is None

    retry = HttpMockSequence(_full_sequence()[2:])  # no second document: straight to filing and sharing
    services.proposal_export(version_id=approved_version.id, http=retry)
    assert [urlparse(r[0]).path for r in retry.request_sequence] == ["/drive/v3/files/doc-1"] * 2 + [
        "/drive/v3/files/doc-1/permissions"
    ] * 2
    approved_version.refresh_from_db()
    assert approved_version.exported_at is not None

    again = HttpMockSequence([])
    assert services.proposal_export(version_id=approved_version.id, http=again)["already_exported"] is True
    assert again.request_sequence == []


def test_transient_google_errors_are_retried_by_the_client(google, approved_version, settings, monkeypatch):
    settings.GOOGLE_API_NUM_RETRIES = 2
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda seconds: None)  # the client's own backoff
    sequence = _full_sequence()
    sequence.insert(0, ({"status": "503"}, json.dumps({"error": {"message": "unavailable"}})))
    http = HttpMockSequence(sequence)
    services.proposal_export(version_id=approved_version.id, http=http)
    paths = [urlparse(r[0]).path for r in http.request_sequence]
    assert paths[:2] == ["/v1/documents", "/v1/documents"]


def test_not_configured_export_is_skipped_with_an_info_line(settings, job, profile, caplog):
    settings.PROPOSAL_GENERATOR = "template"
    settings.GOOGLE_SERVICE_ACCOUNT_FILE = ""
    settings.GOOGLE_DRIVE_FOLDER_ID = ""
    proposal = services.proposal_generate(job_id=job.id)
    with caplog.at_level(logging.INFO, logger="proposals.services"):
        proposal = services.proposal_approve(proposal_id=proposal.id)
        result = services.proposal_export(version_id=proposal.approved_version_id)
    assert result == {"skipped": "Google Docs export is not configured"}
    assert "Google Docs export skipped" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not ProposalVersion.objects.exclude(google_doc_id="").exists()


def test_approval_enqueues_the_export_when_configured(
    google, job, profile, settings, django_capture_on_commit_callbacks
):
    settings.PROPOSAL_GENERATOR = "template"
    proposal = services.proposal_generate(job_id=job.id)
    with django_capture_on_commit_callbacks(execute=True):
        proposal = services.proposal_approve(proposal_id=proposal.id)
    task = Task.objects.get(task_type="export_proposal")
    assert task.payload == {"version_id": proposal.approved_version_id}


def test_the_export_task_fails_for_good_on_a_4xx_and_names_googles_reason(google, approved_version, monkeypatch):
    from core.errors import PermanentTaskError
    from proposals import gdocs, tasks
    from queue_app.registry import TaskContext

    forbidden = {"status": "403", "content-type": "application/json"}
    body = json.dumps({"error": {"code": 403, "message": "The caller does not have permission", "errors": []}})
    http = HttpMockSequence([(forbidden, body)])
    real_build = gdocs.build_services
    monkeypatch.setattr(gdocs, "build_services", lambda http_=None, **kw: real_build(http=http))
    context = TaskContext(task_id="t", task_type="export_proposal", attempt=1, max_retries=3)
    with pytest.raises(PermanentTaskError, match=r"Google rejected the export \(403\): The caller does not have"):
        tasks.export_proposal({"version_id": approved_version.id}, context)


def test_a_missing_service_account_file_is_a_permanent_failure_saying_so(google, approved_version):
    from core.errors import PermanentTaskError
    from proposals import tasks
    from queue_app.registry import TaskContext

    context = TaskContext(task_id="t", task_type="export_proposal", attempt=1, max_retries=3)
    with pytest.raises(PermanentTaskError, match="GOOGLE_SERVICE_ACCOUNT_FILE cannot be read"):
        tasks.export_proposal({"version_id": approved_version.id}, context)
