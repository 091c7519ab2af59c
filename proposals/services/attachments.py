"""Attachments: choosing them for a proposal, deleting them and their files."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from core import transitions
from core.actor import SYSTEM, Actor
from core.errors import ValidationFailed
from proposals import matching, selectors
from proposals.models import (
    Attachment,
    ChosenBy,
    Proposal,
    ProposalAttachment,
)
from proposals.services.common import _lock

logger = logging.getLogger(__name__)


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
    *, proposal_id: int, attachment_ids: list[int], reason: str = "", actor: Actor = SYSTEM
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
    who = actor.authenticated_user.get_username() if actor.authenticated_user is not None else "a person"
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
        transitions.audit(
            proposal,
            "attachments",
            actor=actor,
            before={"attachment_ids": before},
            after={"attachment_ids": unique_ids},
        )
    return proposal
