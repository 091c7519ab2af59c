"""Review: submit, approve, reject, reopen a proposal and fill in its screening answers."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from core import transitions
from core.actor import SYSTEM, Actor
from core.errors import InvalidTransition, ValidationFailed
from proposals import drafting, selectors
from proposals.models import (
    Proposal,
    ProposalStatus,
    ProposalVersion,
    VersionSource,
)
from proposals.services.common import (
    REVIEWABLE,
    REVISABLE,
    SUBMITTABLE,
    _add_version,
    _clean_questions,
    _lock,
    _require,
    _transition,
)
from proposals.services.export import _enqueue_export


def _review_view(proposal: Proposal) -> dict[str, Any]:
    return {
        "status": proposal.status,
        "version": proposal.current_version,
        "approved_version": proposal.approved_version.number if proposal.approved_version_id else None,
        "reviewer_feedback": proposal.reviewer_feedback,
    }


def proposal_submit(*, proposal_id: int, actor: Actor = SYSTEM) -> Proposal:
    """Draft → in review."""
    with transaction.atomic():
        proposal = _lock(proposal_id)
        if proposal.status == ProposalStatus.IN_REVIEW:
            return proposal
        _require(proposal, SUBMITTABLE, "submitted for review")
        if not proposal.current_version:
            raise InvalidTransition(f"Proposal {proposal.id} has no text yet.")
        transitions.set_status(proposal, ProposalStatus.IN_REVIEW)
        proposal.save(update_fields=["status", "status_changed_at", "updated_at"])
    return proposal


def proposal_approve(*, proposal_id: int, feedback: str = "", actor: Actor = SYSTEM) -> Proposal:
    """Approve the current version (draft or in review); audited; the Google Doc export follows if configured."""
    with _transition(
        proposal_id,
        allowed=REVIEWABLE,
        to=ProposalStatus.APPROVED,
        verb="approved",
        action="approve",
        actor=actor,
        view=_review_view,
    ) as step:
        proposal = step.row
        version = selectors.proposal_current_version(proposal)
        if version is None:
            raise InvalidTransition(f"Proposal {proposal.id} has no text to approve yet.")
        proposal.approved_version = version
        proposal.reviewed_by = actor.authenticated_user
        proposal.reviewed_at = timezone.now()
        if feedback:
            proposal.reviewer_feedback = feedback
        transaction.on_commit(lambda: _enqueue_export(version.id, actor=actor))
    return proposal


def proposal_reject(*, proposal_id: int, feedback: str = "", actor: Actor = SYSTEM) -> Proposal:
    """Reject the proposal with the reviewer's feedback (kept for a regeneration); audited."""
    with _transition(
        proposal_id,
        allowed=REVIEWABLE,
        to=ProposalStatus.REJECTED,
        verb="rejected",
        action="reject",
        actor=actor,
        view=_review_view,
    ) as step:
        step.row.reviewer_feedback = feedback
        step.row.reviewed_by = actor.authenticated_user
        step.row.reviewed_at = timezone.now()
    return step.row


def proposal_feedback_set(*, proposal_id: int, feedback: str, actor: Actor = SYSTEM) -> Proposal:
    """Keep a reviewer's note for the next regeneration without changing the status; audited."""
    with transaction.atomic():
        proposal = _lock(proposal_id)
        if proposal.reviewer_feedback == feedback:
            return proposal
        before = {"reviewer_feedback": proposal.reviewer_feedback}
        proposal.reviewer_feedback = feedback
        proposal.save(update_fields=["reviewer_feedback"])
        transitions.audit(
            proposal,
            "feedback",
            actor=actor,
            before=before,
            after={"reviewer_feedback": feedback},
        )
    return proposal


def proposal_reopen(*, proposal_id: int, reason: str = "", actor: Actor = SYSTEM) -> Proposal:
    """Approved → in review again, with a new version to work on, while no application has been sent.

    The new version starts as the approved text; questions the job's form asks that the proposal lacks are
    added with a placeholder answer (which an application cannot be approved with). Applications waiting to
    be sent (approved, scheduled, failed, needing attention) go back to awaiting approval: they send the
    version approved next. Refused once an application was sent or may have been. Audited.
    """
    from applications.services import applications_hold_for_proposal

    reason = (reason or "").strip()
    with transaction.atomic():
        proposal = _lock(proposal_id)
        if proposal.status != ProposalStatus.APPROVED:
            raise InvalidTransition(
                f"Proposal {proposal.id} is {proposal.status}, not approved: edit or regenerate it as it is."
            )
        held = applications_hold_for_proposal(
            proposal_id=proposal.id,
            reason=f"Proposal {proposal.id} was reopened; approve it and this application again.",
            actor=actor,
        )
        before = _review_view(proposal)
        approved = proposal.approved_version
        questions = list(proposal.screening_questions or [])
        added = [q for q in _clean_questions(proposal.job.screening_questions) if q not in questions]
        text = approved.text
        if added:
            text = _with_answers(text, questions + added, {}, placeholder_for=added)
            proposal.screening_questions = questions + added
        draft = drafting.Draft(text=text, source=VersionSource.EDIT)
        transitions.set_status(proposal, ProposalStatus.IN_REVIEW)
        proposal.approved_version = None
        proposal.reviewer_feedback = reason or proposal.reviewer_feedback
        proposal.save(
            update_fields=[
                "status",
                "status_changed_at",
                "approved_version",
                "reviewer_feedback",
                "screening_questions",
                "updated_at",
            ]
        )
        _add_version(proposal, draft=draft, status=ProposalStatus.IN_REVIEW, feedback=reason, actor=actor)
        transitions.audit(
            proposal,
            "reopen",
            actor=actor,
            before=before,
            after={**_review_view(proposal), "reason": reason, "questions_added": added, "applications_held": held},
        )
    return proposal


def _with_answers(text: str, questions: list[str], answers: dict[str, str], *, placeholder_for=()) -> str:
    """The text's letter followed by one "Q:/A:" pair per question: the given answer, else the one written."""
    from applications.content import PLACEHOLDER, split_letter_and_answers

    letter, written = split_letter_and_answers(text, [q for q in questions if q not in placeholder_for])
    current = {item["question"]: item["answer"] for item in written}
    lines = ["Screening answers:"]
    for question in questions:
        answer = answers.get(question, current.get(question, "")).strip() or PLACEHOLDER
        lines += [f"Q: {question}", f"A: {answer}"]
    return f"{letter}\n\n" + "\n".join(lines)


def proposal_answers_set(*, proposal_id: int, answers: list[dict], actor: Actor = SYSTEM) -> ProposalVersion:
    """A person's answers to some screening questions, one by one: a new version (in review) with them; audited.

    `answers` is [{"question": ..., "answer": ...}]; questions not named keep their written answer. Refused when
    approved (reopen it first) or when a question is not one of the proposal's.
    """
    given: dict[str, str] = {}
    for item in answers or []:
        question = " ".join(str(item.get("question", "")).split())
        given[question] = str(item.get("answer", "") or "")
    with transaction.atomic():
        proposal = _lock(proposal_id)
        _require(proposal, REVISABLE, "edited")
        questions = list(proposal.screening_questions or [])
        unknown = [q for q in given if q not in questions]
        if unknown:
            raise ValidationFailed(
                "Answers name questions the proposal does not have: " + "; ".join(unknown),
                field_errors={"answers": [f"Unknown question: {q}" for q in unknown]},
            )
        current = selectors.proposal_current_version(proposal)
        if current is None:
            raise InvalidTransition(f"Proposal {proposal.id} has no text yet.")
        text = _with_answers(current.text, questions, given)
        if text == current.text and proposal.status == ProposalStatus.IN_REVIEW:
            return current
        version = _add_version(
            proposal,
            draft=drafting.Draft(text=text, source=VersionSource.EDIT),
            status=ProposalStatus.IN_REVIEW,
            actor=actor,
        )
        transitions.audit(
            proposal,
            "answers",
            actor=actor,
            before={"version": current.number},
            after={"version": version.number, "answers": [{"question": q, "answer": a} for q, a in given.items()]},
        )
    return version
