"""Submitting through the sandbox: what arrives equals what a person approved, with evidence and an audit trail."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from applications import services
from applications.models import Application, ApplicationStatus, ScreenshotKind
from core.models import AuditEntry
from jobs.models import Job, JobStatus
from queue_app.models import Task
from tests.applications.conftest import make_application, sha256_of, submissions

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_submitted_content_equals_the_approved_proposal_and_attachments_arrive(sandbox, browser_session):
    made = make_application(sandbox, 0, attachments=2, bid="62.50")  # hourly job with two screening questions

    result = services.application_submit(application_id=made.application.id)

    assert result.outcome == "submitted"
    received = submissions(sandbox)
    assert len(received) == 1
    sent = received[0]
    assert sent["job_id"] == made.sandbox_job.ciphertext
    # Browsers send a textarea's line breaks as CRLF (HTML form encoding); the text is otherwise identical.
    assert sent["cover_letter"].replace("\r\n", "\n") == made.letter
    assert sent["charge_rate"] == 62.5
    assert sent["answers"] == {a["question"]: a["answer"] for a in made.answers}
    assert len(made.answers) == 2
    assert [(f["filename"], f["sha256"]) for f in sent["attachments"]] == [
        (Path(a.file.name).name, sha256_of(a)) for a in made.attachments
    ]
    assert sent["boost"] is False

    application = Application.objects.get(id=made.application.id)
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.confirmation_reference == sent["reference"]
    assert application.connects_spent == made.sandbox_job.connects_required == sent["connects_spent"]
    assert application.submitted_at is not None
    kinds = {s.kind for s in application.screenshots.all()}
    assert {ScreenshotKind.FORM_FILLED, ScreenshotKind.CONFIRMATION} <= kinds
    for screenshot in application.screenshots.all():
        assert Path(screenshot.image.path).read_bytes().startswith(b"\x89PNG")
    assert Job.objects.get(id=application.job_id).status == JobStatus.APPLIED
    actions = list(
        AuditEntry.objects.filter(object_type="application", object_id=str(application.id)).values_list(
            "action", flat=True
        )
    )
    assert {"application.create", "application.approve", "application.submit"} <= set(actions)
    verify = Task.objects.get(task_type="verify_submission")
    assert verify.payload == {"application_id": application.id}
    assert verify.run_at is not None  # scheduled after the submit, with a delay

    # Verification finds it in the proposals list.
    assert services.application_verify(application_id=application.id)["outcome"] == "verified"
    application.refresh_from_db()
    assert application.status == ApplicationStatus.VERIFIED
    assert application.verified_at is not None


def test_fixed_price_bid_goes_in_the_bid_field(sandbox, browser_session):
    made = make_application(sandbox, 1, bid="400.00")  # fixed price, no questions

    services.application_submit(application_id=made.application.id)

    sent = submissions(sandbox)[0]
    assert sent["bid_amount"] == 400.0
    assert sent["charge_rate"] is None
    assert sent["answers"] == {}
    assert Application.objects.get(id=made.application.id).bid_amount == Decimal("400.00")


def test_dry_run_fills_the_form_and_screenshots_it_but_sends_nothing(sandbox, browser_session, settings):
    settings.APPLICATIONS_DRY_RUN = True
    made = make_application(sandbox, 0, attachments=1)

    result = services.application_submit(application_id=made.application.id)

    assert result.outcome == "dry_run"
    assert submissions(sandbox) == []
    application = Application.objects.get(id=made.application.id)
    assert application.status == ApplicationStatus.APPROVED
    assert application.counts_toward_caps is False
    assert application.last_dry_run_at is not None
    shots = list(application.screenshots.all())
    assert [s.kind for s in shots] == [ScreenshotKind.DRY_RUN]
    assert Path(shots[0].image.path).stat().st_size > 1000
    assert sandbox.state.connects == 100


def test_verification_detects_a_missing_submission(sandbox, browser_session):
    made = make_application(sandbox, 2)
    services.application_submit(application_id=made.application.id)
    sandbox.state.submissions.clear()  # Upwork lost it, or it was withdrawn

    outcome = services.application_verify(application_id=made.application.id)

    assert outcome["outcome"] == "missing"
    application = Application.objects.get(id=made.application.id)
    assert application.status == ApplicationStatus.NEEDS_ATTENTION
    assert "Not in the proposals list" in application.error
    assert application.screenshots.filter(kind=ScreenshotKind.VERIFICATION).exists()


def test_a_form_asking_more_connects_than_approved_is_not_sent(sandbox, browser_session):
    made = make_application(sandbox, 1, connects=4)  # our job row says 4; the form asks the sandbox's 8

    with pytest.raises(services.SubmissionStopped, match="asks 8 Connects"):
        services.application_submit(application_id=made.application.id)

    assert submissions(sandbox) == []
    application = Application.objects.get(id=made.application.id)
    assert application.status == ApplicationStatus.FAILED
    assert application.counts_toward_caps is False
    assert application.screenshots.filter(kind=ScreenshotKind.ATTENTION).exists()
