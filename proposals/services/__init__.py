"""Every write of the proposals app: drafting, new versions, review transitions, attachments, export, batches."""

from proposals.services.attachments import (
    attachment_delete,
    attachment_file_replaced,
    proposal_attachments_choose,
    proposal_attachments_set,
)
from proposals.services.batches import (
    proposals_batch_generate,
)
from proposals.services.common import (
    REVIEWABLE,
    REVISABLE,
    SUBMITTABLE,
)
from proposals.services.costs import (
    COST_LOCK_KEY,
    cost_release,
    cost_reserve,
    openai_budget,
)
from proposals.services.drafts import (
    proposal_edit,
    proposal_generate,
    proposal_generate_request,
    proposal_regenerate,
    proposal_regenerate_request,
)
from proposals.services.export import (
    document_text,
    proposal_export,
)
from proposals.services.review import (
    proposal_answers_set,
    proposal_approve,
    proposal_feedback_set,
    proposal_reject,
    proposal_reopen,
    proposal_submit,
)

__all__ = [
    "COST_LOCK_KEY",
    "REVIEWABLE",
    "REVISABLE",
    "SUBMITTABLE",
    "attachment_delete",
    "attachment_file_replaced",
    "cost_release",
    "cost_reserve",
    "document_text",
    "openai_budget",
    "proposal_answers_set",
    "proposal_approve",
    "proposal_attachments_choose",
    "proposal_attachments_set",
    "proposal_edit",
    "proposal_export",
    "proposal_feedback_set",
    "proposal_generate",
    "proposal_generate_request",
    "proposal_regenerate",
    "proposal_regenerate_request",
    "proposal_reject",
    "proposal_reopen",
    "proposal_submit",
    "proposals_batch_generate",
]
