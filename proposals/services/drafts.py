"""Drafting: generate, regenerate and edit proposals (each makes a new version)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from jobs.models import Job
from notifications.services import notify_draft_ready
from proposals import drafting, matching, selectors
from proposals.drafting import DraftRequest
from proposals.models import (
    Proposal,
    ProposalStatus,
    ProposalVersion,
    VersionSource,
)
from proposals.services.attachments import proposal_attachments_choose
from proposals.services.common import (
    REVISABLE,
    _add_version,
    _attachment_titles,
    _clean_questions,
    _generator,
    _lock,
    _mark_job_drafted,
    _profile,
    _require,
    _version_of_task,
)
from proposals.services.costs import cost_release, openai_budget
from queue_app.errors import InvalidTransition, NotFound, ValidationFailed
from queue_app.models import TaskSource
from upwork_automation import transitions

logger = logging.getLogger(__name__)


def proposal_generate(
    *,
    job_id: int,
    profile_id: int | None = None,
    generator: str | None = None,
    screening_questions: list[str] | None = None,
    task_id: str | None = None,
) -> Proposal:
    """Draft the first version of a job's proposal. A job that already has proposal text is returned as is.

    OpenAI is called outside any transaction; the proposal, its version and its attachments are
    written together afterwards.
    """
    job = Job.objects.filter(id=job_id).first()
    if job is None:
        raise NotFound(f"No job with id {job_id}.")
    existing = Proposal.objects.filter(job=job).first()
    if existing is not None and existing.current_version > 0:
        wanted = _clean_questions(screening_questions) if screening_questions is not None else None
        if wanted is None or wanted == list(existing.screening_questions or []):
            return existing
        # New questions for a drafted proposal: a new version that answers them (refused once approved).
        proposal_regenerate(proposal_id=existing.id, screening_questions=wanted, generator=generator, task_id=task_id)
        return Proposal.objects.get(id=existing.id)
    generator = _generator(generator)
    profile = _profile(profile_id)
    if screening_questions is not None:
        questions = _clean_questions(screening_questions)
    elif existing is not None and existing.screening_questions:
        questions = list(existing.screening_questions)
    else:
        questions = list(job.screening_questions or [])
    matches = matching.match_attachments(
        job=job, attachments=selectors.active_attachments(), limit=settings.PROPOSAL_MAX_ATTACHMENTS
    )
    request = DraftRequest(
        job=job,
        profile=profile,
        word_limit=settings.PROPOSAL_WORD_LIMIT,
        screening_questions=questions,
        attachment_titles=_attachment_titles(existing, matches),
    )
    with openai_budget(request, generator=generator, task_id=task_id) as reservation:
        draft = drafting.draft(request, generator=generator)
        with transaction.atomic():
            proposal, _ = Proposal.objects.get_or_create(
                job=job, defaults={"profile": profile, "screening_questions": questions}
            )
            proposal = _lock(proposal.id)
            if proposal.current_version > 0:  # another task won the race: keep its draft
                return proposal
            proposal.profile = profile
            proposal.screening_questions = questions
            proposal.save(update_fields=["profile", "screening_questions", "updated_at"])
            _add_version(proposal, draft=draft, status=ProposalStatus.DRAFT, task_id=task_id)
            cost_release(reservation)  # settled: the version carries the real cost, in the same commit
            proposal_attachments_choose(proposal=proposal, matches=matches)
            _mark_job_drafted(job.id)
            notify_draft_ready(proposal)  # sent when this commits
    logger.info(
        "Proposal %s drafted for job %s by %s (%s+%s tokens, ~$%s)",
        proposal.id,
        job.id,
        draft.source,
        draft.prompt_tokens,
        draft.completion_tokens,
        draft.estimated_cost,
    )
    return proposal


def proposal_generate_request(
    *, job_id: int, profile_id: int | None = None, user=None, source: str = TaskSource.SYSTEM
):
    """A person asks for a draft (the admin's "Generate proposal"): queue generate_proposal once per job.

    Refused when the job already has proposal text or a generation for it is still waiting or running.
    The enqueue is audited as task.enqueue with the person's name.
    """
    from queue_app.models import CANCELLABLE_STATUSES, Task
    from queue_app.services import task_enqueue

    job = Job.objects.filter(id=job_id).first()
    if job is None:
        raise NotFound(f"No job with id {job_id}.")
    drafted = Proposal.objects.filter(job=job, current_version__gt=0).first()
    if drafted is not None:
        raise InvalidTransition(f"Job {job_id} already has proposal #{drafted.id}; review it instead.")
    running = Task.objects.filter(
        task_type="generate_proposal", payload__job_id=job.id, status__in=CANCELLABLE_STATUSES
    ).first()
    if running is not None:
        raise InvalidTransition(f"A draft for job {job_id} is already being written (task {running.id}).")
    payload: dict[str, Any] = {"job_id": job.id}
    if profile_id is not None:
        payload["profile_id"] = profile_id
    return task_enqueue(task_type="generate_proposal", payload=payload, source=source, user=user)


def proposal_regenerate(
    *,
    proposal_id: int,
    feedback: str = "",
    screening_questions: list[str] | None = None,
    generator: str | None = None,
    user=None,
    source: str = TaskSource.SYSTEM,
    task_id: str | None = None,
) -> ProposalVersion:
    """A new version written with the reviewer's feedback; the proposal goes back to draft for review.

    `screening_questions`, when given, replace the proposal's questions first (audited as
    proposal.questions) and the new version answers them. An approved proposal is refused: reopen it first.
    """
    done = _version_of_task(task_id)
    if done is not None:
        return done
    proposal = selectors.proposal_list().filter(id=proposal_id).first()
    if proposal is None:
        raise NotFound(f"No proposal with id {proposal_id}.")
    _require(proposal, REVISABLE, "regenerated")
    questions = (
        _clean_questions(screening_questions)
        if screening_questions is not None
        else list(proposal.screening_questions or [])
    )
    generator = _generator(generator)
    previous = selectors.proposal_current_version(proposal)
    request = DraftRequest(
        job=proposal.job,
        profile=_profile(proposal.profile_id),
        word_limit=settings.PROPOSAL_WORD_LIMIT,
        screening_questions=questions,
        attachment_titles=[c.attachment.title for c in proposal.chosen_attachments.all()],
        feedback=feedback,
        previous_text=previous.text if previous else "",
    )
    with openai_budget(request, generator=generator, task_id=task_id) as reservation:
        draft = drafting.draft(request, generator=generator)
        with transaction.atomic():
            proposal = _lock(proposal_id)
            _require(proposal, REVISABLE, "regenerated")  # approved meanwhile: the new text is dropped
            if questions != list(proposal.screening_questions or []):
                transitions.audit(
                    proposal,
                    "questions",
                    source=source,
                    user=user,
                    before={"screening_questions": proposal.screening_questions},
                    after={"screening_questions": questions},
                )
                proposal.screening_questions = questions
            if feedback:
                proposal.reviewer_feedback = feedback
            proposal.save(update_fields=["reviewer_feedback", "screening_questions", "updated_at"])
            version = _add_version(
                proposal, draft=draft, status=ProposalStatus.DRAFT, feedback=feedback, user=user, task_id=task_id
            )
            cost_release(reservation)  # settled: the version carries the real cost, in the same commit
            notify_draft_ready(proposal)  # sent when this commits
            return version


def proposal_regenerate_request(
    *,
    proposal_id: int,
    feedback: str = "",
    screening_questions: list[str] | None = None,
    generator: str | None = None,
    user=None,
    source: str = TaskSource.SYSTEM,
    remote_addr: str | None = None,
):
    """Queue an update_proposal task that regenerates (proposal_regenerate); refused now if it cannot be regenerated.

    Returns the Task. Feedback, questions or both; the questions given replace the proposal's.
    """
    from queue_app.services import task_enqueue

    proposal = Proposal.objects.filter(id=proposal_id).first()
    if proposal is None:
        raise NotFound(f"No proposal with id {proposal_id}.")
    _require(proposal, REVISABLE, "regenerated")
    if not (feedback or "").strip() and screening_questions is None:
        raise ValidationFailed(
            "Give feedback, screening questions, or both.", field_errors={"feedback": ["Give feedback or questions."]}
        )
    payload: dict[str, Any] = {"proposal_id": proposal.id, "feedback": (feedback or "").strip()}
    if generator:
        payload["generator"] = generator
    if screening_questions is not None:
        payload["screening_questions"] = _clean_questions(screening_questions)
    return task_enqueue(task_type="update_proposal", payload=payload, source=source, user=user, remote_addr=remote_addr)


def proposal_edit(*, proposal_id: int, text: str, user=None, task_id: str | None = None) -> ProposalVersion:
    """Save a person's text as a new version; the proposal is then in review."""
    done = _version_of_task(task_id)
    if done is not None:
        return done
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("The proposal text cannot be empty.", field_errors={"text": ["This field is required."]})
    with transaction.atomic():
        proposal = _lock(proposal_id)
        _require(proposal, REVISABLE, "edited")
        current = selectors.proposal_current_version(proposal)
        if current is not None and current.text == text and proposal.status == ProposalStatus.IN_REVIEW:
            return current  # nothing changed
        draft = drafting.Draft(text=text, source=VersionSource.EDIT)
        return _add_version(proposal, draft=draft, status=ProposalStatus.IN_REVIEW, user=user, task_id=task_id)
