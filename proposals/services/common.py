"""What the proposals services share: the status groups, locking, new versions, the profile to write as."""

from __future__ import annotations

import logging

from django.conf import settings

from core import transitions
from core.actor import SYSTEM, Actor
from core.errors import InvalidTransition, NotFound, ValidationFailed
from proposals import drafting, matching, selectors
from proposals.models import (
    Attachment,
    ChosenBy,
    Proposal,
    ProposalStatus,
    ProposalVersion,
)

logger = logging.getLogger(__name__)

# Which statuses each review step may start from.
SUBMITTABLE = (ProposalStatus.DRAFT,)
REVIEWABLE = (ProposalStatus.DRAFT, ProposalStatus.IN_REVIEW)
# A new version (edit or regeneration) is refused once a proposal is approved.
REVISABLE = (ProposalStatus.DRAFT, ProposalStatus.IN_REVIEW, ProposalStatus.REJECTED)


def _generator(generator: str | None) -> str:
    chosen = (generator or settings.PROPOSAL_GENERATOR).strip().lower()
    if chosen not in drafting.GENERATORS:
        raise ValidationFailed(
            f"Unknown proposal generator '{chosen}'. Use one of: {', '.join(drafting.GENERATORS)}.",
            field_errors={"generator": [f"'{chosen}' is not a generator."]},
        )
    return chosen


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
    return transitions.lock(Proposal, proposal_id)


def _hint(allowed: tuple):
    """The refusal's hint: an approved proposal must be reopened before it can change."""

    def hint(proposal: Proposal) -> str:
        if proposal.status == ProposalStatus.APPROVED and ProposalStatus.APPROVED not in allowed:
            return " Reopen it first (it becomes a new version in review) while no application has been sent."
        return ""

    return hint


def _require(proposal: Proposal, allowed: tuple, action: str) -> None:
    transitions.require(proposal, allowed, action, hint=_hint(allowed))


def _transition(proposal_id: int, *, allowed: tuple, view, **fields):
    """transitions.transition for a proposal (the approved-proposal hint on a refusal)."""
    return transitions.transition(Proposal, proposal_id, allowed=allowed, view=view, hint=_hint(allowed), **fields)


def _add_version(
    proposal: Proposal,
    *,
    draft: drafting.Draft,
    status: str,
    feedback: str = "",
    actor: Actor = SYSTEM,
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
        prompt_version=draft.prompt_version,
        prompt_tokens=draft.prompt_tokens,
        completion_tokens=draft.completion_tokens,
        estimated_cost=draft.estimated_cost,
        trimmed_from_words=draft.trimmed_from_words,
        feedback=feedback,
        task_id=task_id,
        created_by=actor.authenticated_user,
    )
    proposal.current_version = number
    transitions.set_status(proposal, status)
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
