"""Create, approve, schedule, cancel, defer and reopen applications; hold them when their proposal reopens."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from applications.content import split_letter_and_answers, unfinished_parts
from applications.models import Application, ApplicationStatus
from applications.services.common import (
    CANCELLABLE,
    REOPENABLE,
    STARTABLE,
    _audit,
    _check_boost,
    _default_bid,
    _lock,
    _money,
    _transition,
    _user_or_none,
    _view,
)
from core import transitions
from core.actor import SYSTEM, Actor
from core.errors import InvalidTransition, NotFound, PermissionRefused, ValidationFailed


def application_create(
    *, proposal_id: int, bid_amount: Decimal | None = None, boost_connects: int = 0, actor: Actor = SYSTEM
) -> Application:
    """An application for an approved proposal's job, awaiting a person's approval.

    With APPLICATIONS_REQUIRE_APPROVAL off it is approved at once (audited as the system's approval).
    """
    from proposals.models import Proposal, ProposalStatus

    proposal = Proposal.objects.select_related("job", "profile").filter(id=proposal_id).first()
    if proposal is None:
        raise NotFound(f"No proposal with id {proposal_id}.")
    if proposal.status != ProposalStatus.APPROVED or proposal.approved_version_id is None:
        raise InvalidTransition(f"Proposal {proposal_id} is {proposal.status}; approve the proposal first.")
    _check_boost(boost_connects)
    bid = _money(bid_amount) if bid_amount is not None else _default_bid(proposal)
    if bid is not None and bid <= 0:
        raise ValidationFailed("The bid must be more than zero.", field_errors={"bid_amount": ["Must be > 0."]})
    try:
        with transaction.atomic():
            application = Application.objects.create(
                job=proposal.job,
                proposal=proposal,
                bid_amount=bid,
                boost_connects=boost_connects,
                connects_required=proposal.job.connects_required,
                status_changed_at=timezone.now(),
            )
            _audit(application, "create", before=None, actor=actor)
    except IntegrityError:
        existing = Application.objects.filter(job=proposal.job).first()
        raise InvalidTransition(
            f"Job {proposal.job_id} already has application {existing.id if existing else '?'}; one per job.",
            field_errors={"proposal_id": ["This job already has an application."]},
        ) from None
    if not settings.APPLICATIONS_REQUIRE_APPROVAL:
        application = application_approve(application_id=application.id, actor=Actor.system())
    return application


def _check_second_approver(proposal, user) -> None:
    """APPLICATIONS_REQUIRE_SECOND_APPROVER: who approved the proposal may not approve its application too."""
    if not settings.APPLICATIONS_REQUIRE_SECOND_APPROVER:
        return
    approver = _user_or_none(user)
    if approver is None:
        raise PermissionRefused(
            "APPLICATIONS_REQUIRE_SECOND_APPROVER is on: an application needs a named approver; "
            "approve it in the admin or the API as a person other than the proposal's approver."
        )
    if proposal.reviewed_by_id is not None and proposal.reviewed_by_id == approver.pk:
        raise PermissionRefused(
            f"APPLICATIONS_REQUIRE_SECOND_APPROVER is on: {approver.get_username()} approved proposal "
            f"{proposal.id}, so another person must approve its application."
        )


def application_approve(
    *,
    application_id: int,
    bid_amount: Decimal | None = None,
    screening_answers: list[dict] | None = None,
    actor: Actor = SYSTEM,
) -> Application:
    """A person approves exactly what will be sent: the approved proposal version, the bid, the answers.

    The letter and answers are fixed here from the proposal's approved version (answers may be given to
    replace the ones written in it); nothing unfinished (empty answer, a placeholder) can be approved.
    """
    from proposals.models import ProposalStatus

    now = timezone.now()
    with _transition(
        application_id,
        allowed=(ApplicationStatus.AWAITING_APPROVAL,),
        to=ApplicationStatus.APPROVED,
        verb="approved",
        action="approve",
        actor=actor,
        now=now,
    ) as step:
        application = step.row
        proposal = application.proposal
        if proposal.status != ProposalStatus.APPROVED or proposal.approved_version_id is None:
            raise InvalidTransition(
                f"Proposal {proposal.id} is {proposal.status}; approve the proposal before the application."
            )
        _check_second_approver(proposal, actor.user)
        version = proposal.approved_version
        questions = list(proposal.screening_questions or [])
        letter, answers = split_letter_and_answers(version.text, questions)
        if screening_answers is not None:
            given = {item.get("question"): item.get("answer", "") for item in screening_answers}
            unknown = [q for q in given if q not in questions]
            if unknown:
                raise ValidationFailed(
                    "Answers name questions the proposal does not have: " + "; ".join(map(str, unknown)),
                    field_errors={"screening_answers": [f"Unknown question: {q}" for q in unknown]},
                )
            answers = [
                {"question": q, "answer": str(given.get(q, a["answer"])).strip()}
                for q, a in zip(questions, answers, strict=True)
            ]
        problems = unfinished_parts(letter, answers)
        if problems:
            raise ValidationFailed(
                "This cannot be sent yet: " + " ".join(problems),
                field_errors={"screening_answers": problems},
            )
        if bid_amount is not None:
            application.bid_amount = _money(bid_amount)
        if application.bid_amount is None or application.bid_amount <= 0:
            raise ValidationFailed(
                "Give a bid (rate or amount) above zero.", field_errors={"bid_amount": ["Required."]}
            )
        _check_boost(application.boost_connects)
        application.proposal_version = version
        application.cover_letter = letter
        application.screening_answers = answers
        application.attachment_ids = list(
            proposal.chosen_attachments.order_by("position").values_list("attachment_id", flat=True)
        )
        application.connects_required = application.job.connects_required or application.connects_required
        application.approved_by = _user_or_none(actor.user)
        application.approved_at = now
        application.error = ""
    return application


def application_schedule(
    *, application_id: int, run_at: datetime | None = None, dry_run: bool | None = None, actor: Actor = SYSTEM
) -> Application:
    """Approved → scheduled: a submit_application task runs at `run_at` (now when omitted); gates apply then."""
    from queue_app.services import task_enqueue

    now = timezone.now()
    run_at = run_at or now
    if timezone.is_naive(run_at):
        raise ValidationFailed("run_at needs a time zone.", field_errors={"run_at": ["Time zone missing."]})
    with _transition(
        application_id,
        allowed=(ApplicationStatus.APPROVED,),
        to=ApplicationStatus.SCHEDULED,
        verb="scheduled",
        action="schedule",
        actor=actor,
        now=now,
        update_fields=["scheduled_for"],
    ) as step:
        application = step.row
        application.scheduled_for = run_at
        payload: dict[str, Any] = {"application_id": application.id}
        if dry_run is not None:
            payload["dry_run"] = dry_run
        task_enqueue(
            task_type="submit_application",
            payload=payload,
            run_at=run_at if run_at > now else None,
            actor=actor,
        )
    return application


def application_cancel(*, application_id: int, actor: Actor = SYSTEM) -> Application:
    """Stop an application that has not been submitted; a scheduled task finds it cancelled and does nothing."""
    with transaction.atomic():
        application = _lock(application_id)
        if application.status == ApplicationStatus.CANCELLED:
            return application
        transitions.require(application, CANCELLABLE, "cancelled")
        before = _view(application)
        transitions.set_status(application, ApplicationStatus.CANCELLED)
        application.save(update_fields=["status", "status_changed_at", "updated_at"])
        _audit(application, "cancel", before=before, actor=actor)
    return application


def application_defer(*, application_id: int, run_at: datetime, actor: Actor = SYSTEM) -> None:
    """The gap said wait: the application shows as scheduled for when its next attempt runs."""
    with transaction.atomic():
        application = _lock(application_id)
        if application.status not in STARTABLE:
            return
        before = _view(application)
        application.scheduled_for = run_at
        transitions.set_status(application, ApplicationStatus.SCHEDULED)
        application.save(update_fields=["scheduled_for", "status", "status_changed_at", "updated_at"])
        _audit(application, "defer", before=before, actor=actor)


def application_reopen(*, application_id: int, actor: Actor = SYSTEM) -> Application:
    """After a person looked at a failure or a stop: back to awaiting approval (it must be approved again)."""
    with _transition(
        application_id,
        allowed=REOPENABLE,
        to=ApplicationStatus.AWAITING_APPROVAL,
        verb="reopened",
        action="reopen",
        actor=actor,
        update_fields=["scheduled_for"],
    ) as step:
        step.row.scheduled_for = None
    return step.row


# Statuses in which something was (or may have been) sent: the proposal behind it can no longer change.
SENT = (ApplicationStatus.SUBMITTING, ApplicationStatus.SUBMITTED, ApplicationStatus.VERIFIED)
# Waiting to be sent with the approved version: reopening the proposal sends them back to approval.
HOLDABLE = (
    ApplicationStatus.APPROVED,
    ApplicationStatus.SCHEDULED,
    ApplicationStatus.FAILED,
    ApplicationStatus.NEEDS_ATTENTION,
)


def applications_hold_for_proposal(*, proposal_id: int, reason: str, actor: Actor = SYSTEM) -> list[int]:
    """The proposal is being reopened: its unsent applications go back to awaiting approval (audited).

    InvalidTransition when one was sent or may have been (a slot was taken): that text is out. Call inside
    the caller's transaction; a scheduled submit task then finds the application not startable.
    """
    applications = list(
        Application.objects.select_for_update()
        .filter(proposal_id=proposal_id)
        .exclude(status=ApplicationStatus.CANCELLED)
    )
    sent = [a for a in applications if a.status in SENT or (a.counts_toward_caps and a.status not in HOLDABLE[:2])]
    if sent:
        raise InvalidTransition(
            f"Application {sent[0].id} for this proposal is {sent[0].status}: what was sent cannot be reopened."
        )
    held = []
    for application in applications:
        if application.status not in HOLDABLE:
            continue
        before = _view(application)
        transitions.set_status(application, ApplicationStatus.AWAITING_APPROVAL)
        application.scheduled_for = None
        application.error = reason
        application.save(update_fields=["status", "status_changed_at", "scheduled_for", "error", "updated_at"])
        _audit(application, "hold", before=before, actor=actor)
        held.append(application.id)
    return held
