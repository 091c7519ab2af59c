"""Free text from API input is bounded: over the limit answers 400 naming the field, and nothing is stored."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import SearchProfile
from proposals.models import Attachment, FreelancerProfile
from queue_app.models import ScheduledTask

pytestmark = pytest.mark.django_db


def field_errors(response) -> dict:
    assert response.status_code == 400, response.content[:500]
    return response.json()["error"]["field_errors"]


@pytest.mark.parametrize("size", [2_001, 2_400_000])
def test_a_schedule_description_over_2000_characters_is_refused(operator_client, size):
    body = {"name": "nightly", "cron_expression": "0 3 * * *", "task_type": "noop", "description": "d" * size}

    errors = field_errors(operator_client.post("/api/queue/scheduled/", body, format="json"))

    assert "description" in errors and "2000" in errors["description"][0]
    assert not ScheduledTask.objects.filter(name="nightly").exists()
    body["description"] = "d" * 2_000
    assert operator_client.post("/api/queue/scheduled/", body, format="json").status_code == 201


@pytest.mark.parametrize(("field", "limit"), [("bio", 5_000), ("sample_letter", 20_000), ("writing_rules", 5_000)])
def test_freelancer_profile_text_is_bounded(operator_client, field, limit):
    body = {"name": "Ann", field: "x" * (limit + 1)}

    errors = field_errors(operator_client.post("/api/proposals/profiles/", body, format="json"))

    assert set(errors) == {field}
    assert not FreelancerProfile.objects.exists()
    body[field] = "x" * limit
    assert operator_client.post("/api/proposals/profiles/", body, format="json").status_code == 201


def test_attachment_description_and_skills_are_bounded(operator_client, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    body = {"file": SimpleUploadedFile("a.pdf", b"%PDF-1.4\n"), "title": "t", "description": "x" * 5_001}

    errors = field_errors(operator_client.post("/api/proposals/attachments/", body, format="multipart"))
    assert set(errors) == {"description"}

    body = {"file": SimpleUploadedFile("a.pdf", b"%PDF-1.4\n"), "title": "t", "skills": ",".join(["s"] * 201)}
    errors = field_errors(operator_client.post("/api/proposals/attachments/", body, format="multipart"))
    assert "at most 200 items" in errors["skills"][0]
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    ("keywords", "says"), [(["k"] * 201, "at most 200 items"), (["k" * 501], "at most 500 characters")]
)
def test_search_profile_word_lists_are_bounded(operator_client, keywords, says):
    response = operator_client.post("/api/jobs/profiles/", {"name": "p", "keywords": keywords}, format="json")

    assert says in field_errors(response)["keywords"][0]
    assert not SearchProfile.objects.exists()


def test_task_payload_text_is_bounded(operator_client):
    body = {"task_type": "job_search", "payload": {"query": "q" * 501}}

    errors = field_errors(operator_client.post("/api/queue/tasks/", body, format="json"))

    assert "query" in str(errors)
