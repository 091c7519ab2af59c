"""Every write of the proposals app: drafting, new versions, review transitions, attachments, export, batches."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from jobs.models import Job
from proposals import conf, drafting, gdocs, matching, selectors
from proposals.drafting import CostCapReached, DraftRequest
from proposals.models import (
    Attachment,
    ChosenBy,
    OpenAICostReservation,
    Proposal,
    ProposalAttachment,
    ProposalStatus,
    ProposalVersion,
    VersionSource,
)
from queue_app.audit import audit_record
from queue_app.errors import InvalidTransition, NotFound, ValidationFailed
from queue_app.models import TaskSource

logger = logging.getLogger(__name__)

# Which statuses each review step may start from.
SUBMITTABLE = (ProposalStatus.DRAFT,)
REVIEWABLE = (ProposalStatus.DRAFT, ProposalStatus.IN_REVIEW)
# A new version (edit or regeneration) is refused once a proposal is approved.
REVISABLE = (ProposalStatus.DRAFT, ProposalStatus.IN_REVIEW, ProposalStatus.REJECTED)


# --- helpers -------------------------------------------------------------------
def _generator(generator: str | None) -> str:
    chosen = (generator or settings.PROPOSAL_GENERATOR).strip().lower()
    if chosen not in drafting.GENERATORS:
        raise ValidationFailed(
            f"Unknown proposal generator '{chosen}'. Use one of: {', '.join(drafting.GENERATORS)}.",
            field_errors={"generator": [f"'{chosen}' is not a generator."]},
        )
    return chosen


# pg_advisory_xact_lock key serialising "read today's OpenAI spend, then reserve" across all workers.
COST_LOCK_KEY = 0x55_50_57_4F_41_49  # "UPWOAI"


def cost_reserve(*, estimate: Decimal, task_id: str | None = None) -> OpenAICostReservation:
    """Check the daily OpenAI cost cap and reserve `estimate` for one call, atomically; CostCapReached when reached.

    Under a transaction-level advisory lock, today's spend (the versions' costs) plus the live
    reservations of calls in flight is compared with OPENAI_DAILY_COST_CAP_USD; while it is below, a
    reservation is written before the lock is released, so the next check counts it. The caller
    settles it (deletes it in the transaction that writes the version carrying the real cost) or
    releases it when the call fails (cost_release; openai_budget does both).

    What can still go over the cap: a call is admitted while spend + reservations is below the cap,
    so the day can end above it by the real cost of the last call admitted, plus, for every call in
    flight at the same time, what its real cost exceeds its estimate by (estimates are generous).
    A reservation left by a process killed mid-call keeps counting for COST_RESERVATION_TTL (safe
    side), then is ignored. A draft thrown away because another task wrote the proposal first is not
    counted.
    """
    cap = settings.OPENAI_DAILY_COST_CAP_USD
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COST_LOCK_KEY])
        now = timezone.now()
        spent = selectors.openai_spent_today(now)
        reserved = selectors.openai_reserved_today(now)
        if spent + reserved >= cap:
            in_flight = f", ${reserved:.4f} more reserved by calls in progress" if reserved else ""
            raise CostCapReached(
                f"The daily OpenAI cost cap of ${cap} is reached (${spent:.4f} spent today{in_flight}); "
                "generation resumes tomorrow, or raise OPENAI_DAILY_COST_CAP_USD."
            )
        OpenAICostReservation.objects.filter(created_at__lt=now - selectors.COST_RESERVATION_TTL).delete()
        return OpenAICostReservation.objects.create(amount=max(estimate, Decimal("0")), task_id=task_id, created_at=now)


def cost_release(reservation: OpenAICostReservation | None) -> None:
    """Drop a reservation: its call failed, or (inside the version's transaction) its real cost is now recorded."""
    if reservation is not None:
        OpenAICostReservation.objects.filter(id=reservation.id).delete()


@contextmanager
def openai_budget(
    request: DraftRequest, *, generator: str, task_id: str | None = None
) -> Iterator[OpenAICostReservation | None]:
    """Reserve the call's estimated cost for the block (OpenAI only) and release it however the block ends.

    The block settles by calling cost_release inside the transaction that writes the version.
    """
    reservation = None
    if generator == "openai":
        reservation = cost_reserve(estimate=drafting.estimate_request_cost(request), task_id=task_id)
    try:
        yield reservation
    finally:
        cost_release(reservation)


def _profile(profile_id: int | None):
    profile = selectors.profile_for(profile_id)
    if profile is None:
        if profile_id is not None:
            raise NotFound(f"No freelancer profile with id {profile_id}.")
        raise ValidationFailed(
            "No freelancer profile to write as: create one in the admin (and mark it default if you have several).",
            field_errors={"profile_id": ["No default profile."]},
        )
    return profile


def _lock(proposal_id: int) -> Proposal:
    proposal = Proposal.objects.select_for_update().filter(id=proposal_id).first()
    if proposal is None:
        raise NotFound(f"No proposal with id {proposal_id}.")
    return proposal


def _require(proposal: Proposal, allowed: tuple, action: str) -> None:
    if proposal.status not in allowed:
        hint = ""
        if proposal.status == ProposalStatus.APPROVED and ProposalStatus.APPROVED not in allowed:
            hint = " Reopen it first (it becomes a new version in review) while no application has been sent."
        raise InvalidTransition(
            f"Proposal {proposal.id} is {proposal.status}; it can be {action} only when "
            f"{' or '.join(str(s) for s in allowed)}.{hint}"
        )


def _set_status(proposal: Proposal, status: str) -> None:
    if proposal.status != status:
        proposal.status = status
        proposal.status_changed_at = timezone.now()


def _add_version(
    proposal: Proposal,
    *,
    draft: drafting.Draft,
    status: str,
    feedback: str = "",
    user=None,
    task_id: str | None = None,
) -> ProposalVersion:
    """Append a version to a locked proposal and make it current."""
    number = proposal.current_version + 1
    version = ProposalVersion.objects.create(
        proposal=proposal,
        number=number,
        text=draft.text,
        source=draft.source,
        model=draft.model,
        prompt_tokens=draft.prompt_tokens,
        completion_tokens=draft.completion_tokens,
        estimated_cost=draft.estimated_cost,
        trimmed_from_words=draft.trimmed_from_words,
        feedback=feedback,
        task_id=task_id,
        created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
    )
    proposal.current_version = number
    _set_status(proposal, status)
    proposal.save(update_fields=["current_version", "status", "status_changed_at", "updated_at"])
    return version


def _clean_questions(questions: list[str] | None) -> list[str]:
    """Questions stripped, empties and repeats dropped, order kept."""
    cleaned = [" ".join(str(q).split()) for q in questions or []]
    return list(dict.fromkeys(q for q in cleaned if q))


def _version_of_task(task_id: str | None) -> ProposalVersion | None:
    return ProposalVersion.objects.filter(task_id=task_id).first() if task_id else None


def _attachment_titles(proposal: Proposal | None, matches: list[matching.AttachmentMatch]) -> list[str]:
    if proposal is not None and proposal.chosen_attachments.filter(chosen_by=ChosenBy.USER).exists():
        return [c.attachment.title for c in proposal.chosen_attachments.select_related("attachment")]
    titles = dict(Attachment.objects.filter(id__in=[m.attachment_id for m in matches]).values_list("id", "title"))
    return [titles[m.attachment_id] for m in matches if m.attachment_id in titles]


def _mark_job_drafted(job_id: int) -> None:
    from jobs.services import job_mark_proposal_drafted

    try:
        job_mark_proposal_drafted(job_id=job_id)
    except InvalidTransition as error:  # e.g. already applied or archived: the job keeps its status
        logger.info("Job %s keeps its status: %s", job_id, error.message)


# --- attachments -----------------------------------------------------------------
def _attachment_files_remove_on_commit(names: list[str]) -> None:
    """Delete stored files once the rows that named them are gone for good (never for a rolled-back delete)."""

    def remove() -> None:
        for name in names:
            try:
                default_storage.delete(name)
            except OSError:
                logger.exception("Could not delete the attachment file %s", name)

    transaction.on_commit(remove)


def attachment_delete(*, attachments: list[Attachment]) -> int:
    """Delete portfolio attachments and, after commit, their files: a deleted piece is no longer served."""
    names = [attachment.file.name for attachment in attachments if attachment.file]
    with transaction.atomic():
        deleted, _ = Attachment.objects.filter(id__in=[attachment.id for attachment in attachments]).delete()
        _attachment_files_remove_on_commit(names)
    return deleted


def attachment_file_replaced(*, attachment: Attachment, old_name: str) -> None:
    """After an edit saved a new file, the old one is deleted (after commit) so it is no longer served."""
    if old_name and old_name != attachment.file.name:
        _attachment_files_remove_on_commit([old_name])


def proposal_attachments_choose(*, proposal: Proposal, matches: list[matching.AttachmentMatch] | None = None) -> list:
    """Replace the automatic attachment choice with the best matches; a person's choice is left alone."""
    with transaction.atomic():
        if proposal.chosen_attachments.filter(chosen_by=ChosenBy.USER).exists():
            return list(proposal.chosen_attachments.all())
        if matches is None:
            matches = matching.match_attachments(
                job=proposal.job, attachments=selectors.active_attachments(), limit=settings.PROPOSAL_MAX_ATTACHMENTS
            )
        proposal.chosen_attachments.all().delete()
        return ProposalAttachment.objects.bulk_create(
            ProposalAttachment(
                proposal=proposal,
                attachment_id=match.attachment_id,
                reason=match.reason,
                score=match.score,
                chosen_by=ChosenBy.AUTO,
                position=position,
            )
            for position, match in enumerate(matches)
        )


def proposal_attachments_set(
    *, proposal_id: int, attachment_ids: list[int], user=None, source: str = TaskSource.SYSTEM, reason: str = ""
) -> Proposal:
    """A person's choice of attachments replaces the automatic one (an empty list: no attachments)."""
    unique_ids = list(dict.fromkeys(attachment_ids))
    found = set(Attachment.objects.filter(id__in=unique_ids).values_list("id", flat=True))
    missing = [i for i in unique_ids if i not in found]
    if missing:
        raise ValidationFailed(
            f"Unknown attachment id(s): {', '.join(map(str, missing))}.",
            field_errors={"attachment_ids": [f"No attachment with id {i}." for i in missing]},
        )
    who = user.get_username() if user is not None and getattr(user, "is_authenticated", False) else "a person"
    with transaction.atomic():
        proposal = _lock(proposal_id)
        before = list(proposal.chosen_attachments.values_list("attachment_id", flat=True))
        proposal.chosen_attachments.all().delete()
        ProposalAttachment.objects.bulk_create(
            ProposalAttachment(
                proposal=proposal,
                attachment_id=attachment_id,
                reason=reason or f"Chosen by {who}.",
                chosen_by=ChosenBy.USER,
                position=position,
            )
            for position, attachment_id in enumerate(unique_ids)
        )
        audit_record(
            action="proposal.attachments",
            object_type="proposal",
            object_id=proposal.id,
            source=source,
            user=user,
            before={"attachment_ids": before},
            after={"attachment_ids": unique_ids},
        )
    return proposal


# --- drafting --------------------------------------------------------------------
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
                audit_record(
                    action="proposal.questions",
                    object_type="proposal",
                    object_id=proposal.id,
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


# --- review ----------------------------------------------------------------------
def _review_view(proposal: Proposal) -> dict[str, Any]:
    return {
        "status": proposal.status,
        "version": proposal.current_version,
        "approved_version": proposal.approved_version.number if proposal.approved_version_id else None,
        "reviewer_feedback": proposal.reviewer_feedback,
    }


def proposal_submit(*, proposal_id: int, user=None, source: str = TaskSource.SYSTEM) -> Proposal:
    """Draft → in review."""
    with transaction.atomic():
        proposal = _lock(proposal_id)
        if proposal.status == ProposalStatus.IN_REVIEW:
            return proposal
        _require(proposal, SUBMITTABLE, "submitted for review")
        if not proposal.current_version:
            raise InvalidTransition(f"Proposal {proposal.id} has no text yet.")
        _set_status(proposal, ProposalStatus.IN_REVIEW)
        proposal.save(update_fields=["status", "status_changed_at", "updated_at"])
    return proposal


def proposal_approve(
    *, proposal_id: int, user=None, source: str = TaskSource.SYSTEM, feedback: str = "", remote_addr: str | None = None
) -> Proposal:
    """Approve the current version (draft or in review); audited; the Google Doc export follows if configured."""
    with transaction.atomic():
        proposal = _lock(proposal_id)
        _require(proposal, REVIEWABLE, "approved")
        version = selectors.proposal_current_version(proposal)
        if version is None:
            raise InvalidTransition(f"Proposal {proposal.id} has no text to approve yet.")
        before = _review_view(proposal)
        _set_status(proposal, ProposalStatus.APPROVED)
        proposal.approved_version = version
        proposal.reviewed_by = user if user is not None and getattr(user, "is_authenticated", False) else None
        proposal.reviewed_at = timezone.now()
        if feedback:
            proposal.reviewer_feedback = feedback
        proposal.save()
        audit_record(
            action="proposal.approve",
            object_type="proposal",
            object_id=proposal.id,
            source=source,
            user=user,
            before=before,
            after=_review_view(proposal),
            remote_addr=remote_addr,
        )
        transaction.on_commit(lambda: _enqueue_export(version.id, source=source, user=user))
    return proposal


def proposal_reject(
    *, proposal_id: int, feedback: str = "", user=None, source: str = TaskSource.SYSTEM, remote_addr: str | None = None
) -> Proposal:
    """Reject the proposal with the reviewer's feedback (kept for a regeneration); audited."""
    with transaction.atomic():
        proposal = _lock(proposal_id)
        _require(proposal, REVIEWABLE, "rejected")
        before = _review_view(proposal)
        _set_status(proposal, ProposalStatus.REJECTED)
        proposal.reviewer_feedback = feedback
        proposal.reviewed_by = user if user is not None and getattr(user, "is_authenticated", False) else None
        proposal.reviewed_at = timezone.now()
        proposal.save()
        audit_record(
            action="proposal.reject",
            object_type="proposal",
            object_id=proposal.id,
            source=source,
            user=user,
            before=before,
            after=_review_view(proposal),
            remote_addr=remote_addr,
        )
    return proposal


def proposal_reopen(
    *, proposal_id: int, reason: str = "", user=None, source: str = TaskSource.SYSTEM, remote_addr: str | None = None
) -> Proposal:
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
            user=user,
            source=source,
            remote_addr=remote_addr,
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
        _set_status(proposal, ProposalStatus.IN_REVIEW)
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
        _add_version(proposal, draft=draft, status=ProposalStatus.IN_REVIEW, feedback=reason, user=user)
        audit_record(
            action="proposal.reopen",
            object_type="proposal",
            object_id=proposal.id,
            source=source,
            user=user,
            before=before,
            after={**_review_view(proposal), "reason": reason, "questions_added": added, "applications_held": held},
            remote_addr=remote_addr,
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


def proposal_answers_set(
    *,
    proposal_id: int,
    answers: list[dict],
    user=None,
    source: str = TaskSource.SYSTEM,
    remote_addr: str | None = None,
) -> ProposalVersion:
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
            user=user,
        )
        audit_record(
            action="proposal.answers",
            object_type="proposal",
            object_id=proposal.id,
            source=source,
            user=user,
            before={"version": current.number},
            after={"version": version.number, "answers": [{"question": q, "answer": a} for q, a in given.items()]},
            remote_addr=remote_addr,
        )
    return version


# --- Google Docs -----------------------------------------------------------------
def _enqueue_export(version_id: int, *, source: str, user=None) -> None:
    if not conf.google_configured():
        logger.info(
            "Google Docs export skipped for version %s: GOOGLE_SERVICE_ACCOUNT_FILE / GOOGLE_DRIVE_FOLDER_ID unset",
            version_id,
        )
        return
    from queue_app.services import task_enqueue

    task_enqueue(
        task_type="export_proposal",
        payload={"version_id": version_id},
        idempotency_key=f"export_proposal:version:{version_id}",
        source=source,
        user=user,
    )


def document_text(version: ProposalVersion) -> str:
    proposal = version.proposal
    job = proposal.job
    lines = [f"Proposal for: {job.title}", job.url, f"Version {version.number}", "", version.text.strip(), ""]
    chosen = list(proposal.chosen_attachments.select_related("attachment"))
    lines.append("Attachments:")
    lines += [f"- {c.attachment.title}: {c.reason}" for c in chosen] or ["- none"]
    return "\n".join(lines) + "\n"


def proposal_export(*, version_id: int, http=None) -> dict:
    """One Google Doc per approved version: created, filled, filed in the folder, shared; its URL stored.

    Not configured: skipped with an info line. Safe to run again: a created document is reused,
    a finished export is returned as is.
    """
    if http is None and not conf.google_configured():
        logger.info("Google Docs export skipped for version %s: not configured", version_id)
        return {"skipped": "Google Docs export is not configured"}
    version = ProposalVersion.objects.select_related("proposal__job").filter(id=version_id).first()
    if version is None:
        raise NotFound(f"No proposal version with id {version_id}.")
    if version.exported_at is not None:
        return {"document_id": version.google_doc_id, "url": version.google_doc_url, "already_exported": True}
    services = gdocs.build_services(http=http)
    if not version.google_doc_id:
        title = f"Proposal - {version.proposal.job.title} (v{version.number})"[:250]
        document_id = gdocs.create_document(services, title=title, text=document_text(version))
        # Kept at once: a retry after a failed move or share reuses this document.
        ProposalVersion.objects.filter(id=version.id).update(
            google_doc_id=document_id, google_doc_url=gdocs.document_url(document_id)
        )
        version.google_doc_id = document_id
    url = gdocs.file_and_share(services, document_id=version.google_doc_id)
    ProposalVersion.objects.filter(id=version.id).update(google_doc_url=url, exported_at=timezone.now())
    logger.info("Proposal version %s exported to Google Docs: %s", version.id, url)
    return {"document_id": version.google_doc_id, "url": url}


# --- batches ---------------------------------------------------------------------
def proposals_batch_generate(
    *,
    job_ids: list[int] | None = None,
    limit: int | None = None,
    min_score: int | None = None,
    profile_id: int | None = None,
    generator: str | None = None,
    source: str = TaskSource.SYSTEM,
) -> dict:
    """Fan out generate_proposal for jobs needing one, within the concurrency cap and the daily cost cap.

    The cap counts generate_proposal tasks still waiting or running, so hourly runs never pile up.
    Returns the progress: candidates, what was enqueued, and what stopped the run early.
    """
    from queue_app.models import WAITING_STATUSES, Task, TaskStatus
    from queue_app.services import EnqueueRequest, task_enqueue_many

    generator = _generator(generator)
    min_score = settings.PROPOSAL_BATCH_MIN_SCORE if min_score is None else min_score
    cap = settings.PROPOSAL_BATCH_CONCURRENCY
    if limit is not None:
        cap = min(limit, cap)
    needing = selectors.jobs_needing_proposals(min_score=min_score, job_ids=job_ids)
    candidates = list(needing.values_list("id", flat=True))
    unfinished = [*WAITING_STATUSES, TaskStatus.PROCESSING]
    in_flight = Task.objects.filter(task_type="generate_proposal", status__in=unfinished).count()
    slots = max(cap - in_flight, 0)
    progress: dict[str, Any] = {
        "generator": generator,
        "candidates": len(candidates),
        "in_flight_before": in_flight,
        "concurrency_cap": cap,
        "enqueued": 0,
        "already_enqueued": 0,
        "task_ids": [],
        "job_ids": [],
        "remaining": 0,
        "stopped_by": None,
    }
    if generator == "openai":
        cost_cap = settings.OPENAI_DAILY_COST_CAP_USD
        spent = selectors.openai_spent_today()
        progress["cost"] = {"spent_today": str(spent), "daily_cap": str(cost_cap)}
        if spent >= cost_cap:
            progress["stopped_by"] = "cost_cap"
            progress["remaining"] = len(candidates)
            logger.info("Batch generation stopped: daily OpenAI cost cap $%s reached ($%s spent)", cost_cap, spent)
            return progress
        average = selectors.average_generation_cost()
        if average > 0:
            affordable = int((cost_cap - spent) / average)
            progress["cost"]["affordable"] = affordable
            if affordable < slots:
                slots = affordable
                progress["stopped_by"] = "cost_cap" if affordable < len(candidates) else None
    chosen = candidates[:slots]
    if len(candidates) > len(chosen) and progress["stopped_by"] is None:
        progress["stopped_by"] = "concurrency_cap"
    payload_extra: dict[str, Any] = {"generator": generator}
    if profile_id is not None:
        payload_extra["profile_id"] = profile_id
    requests = [
        EnqueueRequest(
            task_type="generate_proposal",
            payload={"job_id": job_id, **payload_extra},
            # The same key as discovery's hand-off: a job is never drafted twice by two routes.
            idempotency_key=f"generate_proposal:job:{job_id}",
        )
        for job_id in chosen
    ]
    if requests:
        before = timezone.now()
        tasks = task_enqueue_many(requests=requests, source=source)
        fresh = [task for task in tasks if task.created_at >= before]
        progress["enqueued"] = len(fresh)
        progress["already_enqueued"] = len(tasks) - len(fresh)
        progress["task_ids"] = [str(task.id) for task in tasks]
        progress["job_ids"] = chosen
    progress["remaining"] = len(candidates) - len(chosen)
    return progress
