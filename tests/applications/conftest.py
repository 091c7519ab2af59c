"""Fixtures for applications: the sandbox marketplace, a session, approved proposals for known sandbox jobs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.core.files.base import ContentFile
from django.utils import timezone
from model_bakery import baker

from scripts.sandbox.server import SandboxServer, start_sandbox
from tests.api.conftest import anonymous_client, operator, operator_client, viewer, viewer_client  # noqa: F401

# Settings that make the gates pass in tests unless a test tightens one.
OPEN_GATES = {
    "APPLICATIONS_ENABLED": True,
    "APPLICATIONS_REQUIRE_APPROVAL": True,
    "APPLICATIONS_DRY_RUN": False,
    "APPLICATIONS_DAILY_CAP": 10,
    "APPLICATIONS_MIN_GAP_SECONDS": 0,
    "APPLICATIONS_GAP_JITTER_SECONDS": 0,
    "APPLICATIONS_MONTHLY_CONNECTS_BUDGET": 100,
    "APPLICATIONS_MAX_CONNECTS_PER_JOB": 16,
    "APPLICATIONS_BOOST_ENABLED": False,
    "APPLICATIONS_VERIFY_DELAY_SECONDS": 3600,
}


@pytest.fixture(scope="session")
def sandbox_server():
    server = start_sandbox()
    yield server
    server.stop()


@pytest.fixture
def media_root(tmp_path, settings) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def sandbox(sandbox_server, settings, media_root) -> SandboxServer:
    """The sandbox with a clean slate; Upwork URLs, pacing and the safety gates set for this test."""
    sandbox_server.state.reset()
    settings.UPWORK_BASE_URL = sandbox_server.url
    settings.JOBS_BROWSER_DELAY_MIN = 0.0
    settings.JOBS_BROWSER_DELAY_MAX = 0.01
    settings.JOBS_BROWSER_NAV_TIMEOUT = 15
    for name, value in OPEN_GATES.items():
        setattr(settings, name, value)
    return sandbox_server


def worker_env(sandbox: SandboxServer, media_root: Path, **extra) -> dict[str, str]:
    """Environment for a worker process: the sandbox, fast pacing, open gates, then the test's changes."""
    env = {
        "UPWORK_BASE_URL": sandbox.url,
        "JOBS_BROWSER_DELAY_MIN": "0",
        "JOBS_BROWSER_DELAY_MAX": "0.01",
        "JOBS_BROWSER_NAV_TIMEOUT": "15",
        "MEDIA_ROOT": str(media_root),
        **{name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in OPEN_GATES.items()},
    }
    env.update({name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in extra.items()})
    return env


def submissions(sandbox: SandboxServer) -> list[dict]:
    """What the sandbox received, read over HTTP as any client would."""
    return requests.get(f"{sandbox.url}/__sandbox__/submissions", timeout=5).json()


@pytest.fixture
def browser_session(sandbox, db):
    from jobs import services

    state = requests.get(f"{sandbox.url}/__sandbox__/storage-state", timeout=5).json()
    return services.browser_session_import(name="sandbox", storage_state=state)


@dataclass
class Made:
    application: object
    proposal: object
    letter: str
    answers: list[dict]
    attachments: list[object]
    sandbox_job: object


LETTER = (
    "Hi, I read your post and I have built this kind of system twice before.\n"
    "I would start with a short call and a written plan.\n\nBest regards,\nAda"
)


def make_application(
    sandbox: SandboxServer,
    index: int,
    *,
    approve: bool = True,
    attachments: int = 0,
    bid: str = "55.00",
    connects: int | None = None,
):
    """An application for sandbox job `index`: a Job row matching it, an approved proposal with answers."""
    from applications import services
    from jobs.models import Job
    from proposals.models import Attachment, FreelancerProfile, Proposal, ProposalAttachment, ProposalVersion

    sandbox_job = sandbox.state.jobs[index]
    job = baker.make(
        Job,
        upwork_id=sandbox_job.ciphertext,
        url=f"{sandbox.url}/jobs/{sandbox_job.ciphertext}",
        title=sandbox_job.title,
        job_type=sandbox_job.job_type,
        connects_required=sandbox_job.connects_required if connects is None else connects,
        status="proposal_drafted",
    )
    profile = FreelancerProfile.objects.first() or baker.make(FreelancerProfile, name="Ada", hourly_rate="60.00")
    questions = list(sandbox_job.screening_questions)
    answers = [
        {"question": q, "answer": f"Answer {n} for job {index}: yes, since 2019."} for n, q in enumerate(questions)
    ]
    text = LETTER
    if questions:
        text += "\n\nScreening answers:\n" + "\n".join(f"Q: {a['question']}\nA: {a['answer']}" for a in answers)
    proposal = baker.make(Proposal, job=job, profile=profile, screening_questions=questions, current_version=1)
    version = baker.make(ProposalVersion, proposal=proposal, number=1, text=text, source="template")
    Proposal.objects.filter(id=proposal.id).update(status="approved", approved_version=version)
    made_attachments = []
    for n in range(attachments):
        attachment = Attachment(title=f"Portfolio {n}", skills=["Django"])
        attachment.file.save(f"portfolio-{index}-{n}.pdf", ContentFile(f"%PDF-1.4 piece {n} {index}".encode() * 40))
        made_attachments.append(attachment)
        ProposalAttachment.objects.create(proposal=proposal, attachment=attachment, reason="fits", position=n)
    application = services.application_create(proposal_id=proposal.id, bid_amount=Decimal(bid))
    if approve:
        application = services.application_approve(application_id=application.id)
    return Made(application, proposal, LETTER, answers, made_attachments, sandbox_job)


def sha256_of(attachment) -> str:
    with attachment.file.open("rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def now():
    return timezone.now()
