"""Exporting a proposal version to Google Docs."""

from __future__ import annotations

import logging

from django.utils import timezone

from core.actor import SYSTEM, Actor
from core.errors import NotFound
from proposals import conf, gdocs
from proposals.models import (
    ProposalVersion,
)

logger = logging.getLogger(__name__)


def _enqueue_export(version_id: int, *, actor: Actor = SYSTEM) -> None:
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
        actor=actor,
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
