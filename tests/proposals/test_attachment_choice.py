"""Attachment choice: the K best matches by skills and description, with reasons; a person's override sticks."""

from __future__ import annotations

import pytest
from model_bakery import baker

from core.actor import Actor
from core.models import AuditEntry
from jobs.models import Job
from proposals import matching, services
from proposals.models import Attachment, ChosenBy

pytestmark = pytest.mark.django_db


@pytest.fixture
def portfolio():
    return {
        "dashboard": baker.make(
            Attachment,
            title="Logistics dashboard",
            skills=["Django", "PostgreSQL"],
            description="An admin dashboard for a freight startup: routes, drivers, invoices.",
        ),
        "api": baker.make(
            Attachment, title="Payments API", skills=["Django", "Stripe"], description="A REST API for payments."
        ),
        "mobile": baker.make(
            Attachment, title="Fitness app", skills=["Flutter"], description="A mobile app for gym members."
        ),
        "retired": baker.make(
            Attachment, title="Old dashboard", skills=["Django", "PostgreSQL"], description="dashboard", active=False
        ),
    }


@pytest.fixture
def dashboard_job():
    return baker.make(
        Job,
        title="Admin dashboard for a freight company",
        description="Build a Django admin dashboard for drivers and routes on PostgreSQL.",
        skills=["Django", "PostgreSQL"],
    )


def test_the_best_matches_come_first_with_their_reasons(portfolio, dashboard_job):
    matches = matching.match_attachments(job=dashboard_job, attachments=Attachment.objects.filter(active=True), limit=3)
    assert [m.attachment_id for m in matches] == [portfolio["dashboard"].id, portfolio["api"].id]
    best, second = matches
    # Two shared skills (3 each) and five shared words.
    assert best.score == 11
    assert best.reason == (
        "Matches the job: shows Django, PostgreSQL the job asks for; "
        "its description shares: admin, dashboard, drivers, freight, routes (score 11)."
    )
    assert second.score == 3 and "shows Django" in second.reason
    # The Flutter app shares nothing and is never chosen, however large K is.
    assert portfolio["mobile"].id not in [m.attachment_id for m in matches]


def test_k_limits_the_choice(portfolio, dashboard_job):
    matches = matching.match_attachments(job=dashboard_job, attachments=Attachment.objects.all(), limit=1)
    assert [m.attachment_id for m in matches] == [portfolio["dashboard"].id]


def test_generation_records_the_automatic_choice_without_inactive_pieces(portfolio, dashboard_job, profile, settings):
    settings.PROPOSAL_GENERATOR = "template"
    settings.PROPOSAL_MAX_ATTACHMENTS = 5
    proposal = services.proposal_generate(job_id=dashboard_job.id)
    chosen = list(proposal.chosen_attachments.order_by("position"))
    assert [c.attachment_id for c in chosen] == [portfolio["dashboard"].id, portfolio["api"].id]
    assert all(c.chosen_by == ChosenBy.AUTO and c.reason.startswith("Matches the job") for c in chosen)
    assert "Attached: Logistics dashboard, Payments API" in proposal.versions.get().text


def test_a_persons_choice_replaces_the_automatic_one_and_survives_regeneration(
    portfolio, dashboard_job, profile, settings, user
):
    settings.PROPOSAL_GENERATOR = "template"
    proposal = services.proposal_generate(job_id=dashboard_job.id)
    services.proposal_attachments_set(
        proposal_id=proposal.id, attachment_ids=[portfolio["mobile"].id], actor=Actor(user=user, source="api")
    )
    services.proposal_regenerate(proposal_id=proposal.id, feedback="Shorter please.")

    chosen = list(proposal.chosen_attachments.all())
    assert [(c.attachment_id, c.chosen_by, c.reason) for c in chosen] == [
        (portfolio["mobile"].id, ChosenBy.USER, "Chosen by operator.")
    ]
    entry = AuditEntry.objects.get(action="proposal.attachments")
    assert entry.after == {"attachment_ids": [portfolio["mobile"].id]}


def test_unknown_attachments_are_refused_naming_them(portfolio, dashboard_job, profile, settings):
    settings.PROPOSAL_GENERATOR = "template"
    proposal = services.proposal_generate(job_id=dashboard_job.id)
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="Unknown attachment id"):
        services.proposal_attachments_set(proposal_id=proposal.id, attachment_ids=[portfolio["api"].id, 999999])
    assert proposal.chosen_attachments.filter(chosen_by=ChosenBy.USER).count() == 0
