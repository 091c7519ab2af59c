"""Where outcome tracking reads a sent proposal's state: the official API (vendorProposals) and the proposals pages.

Both give `ProposalState`s; `applications.services.outcomes` matches them to applications and records events.
The browser half lives in `applications.browser` (ApplyBrowser.read_proposals); this module holds the shared
shape and the API half (the only place that knows the API's proposal field names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from applications.models import OutcomeKind

VENDOR_PROPOSALS_QUERY = """
query vendorProposals($filter: VendorProposalFilter, $pagination: Pagination) {
  vendorProposals(filter: $filter, pagination: $pagination) {
    totalCount
    edges {
      cursor
      node {
        id
        marketplaceJobPosting { id ciphertext }
        status { status }
        auditDetails { createdDateTime { rawValue } modifiedDateTime { rawValue } }
        connectsSpent connectsRefunded
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
# The API's proposal status → the event it means. It never says whether the client viewed a proposal, and it
# gives only the latest status: the pages fill in the steps between two runs.
API_STATUS_KINDS = {
    "ACTIVATED": OutcomeKind.REPLIED,
    "INTERVIEWING": OutcomeKind.INTERVIEW,
    "OFFERED": OutcomeKind.OFFER,
    "HIRED": OutcomeKind.HIRED,
    "DECLINED": OutcomeKind.DECLINED,
    "JOB_CLOSED": OutcomeKind.JOB_CLOSED,
    "JOB_CANCELLED": OutcomeKind.JOB_CANCELLED,
    "WITHDRAWN": OutcomeKind.WITHDRAWN,
}
# What the proposals pages may name (the row's events); anything else is ignored and logged.
PAGE_KINDS = set(OutcomeKind.values) - {OutcomeKind.NO_RESPONSE}


@dataclass
class ProposalState:
    """One sent proposal as a source shows it: the events seen so far, and Connects refunded if shown."""

    reference: str
    upwork_id: str
    status: str = ""
    events: list[tuple[str, datetime | None]] = field(default_factory=list)  # (OutcomeKind, when; None = unknown)
    connects_spent: int | None = None
    connects_refunded: int | None = None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def node_to_state(node: dict) -> ProposalState:
    """Map a VendorProposal node to a ProposalState."""
    job = node.get("marketplaceJobPosting") or {}
    status = ((node.get("status") or {}).get("status") or "").upper()
    modified = parse_time(((node.get("auditDetails") or {}).get("modifiedDateTime") or {}).get("rawValue"))
    kind = API_STATUS_KINDS.get(status)
    refunded = node.get("connectsRefunded")
    spent = node.get("connectsSpent")
    return ProposalState(
        reference=str(node.get("id") or ""),
        upwork_id=str(job.get("ciphertext") or job.get("id") or ""),
        status=status,
        events=[(kind, modified)] if kind else [],
        connects_spent=int(spent) if spent is not None else None,
        connects_refunded=int(refunded) if refunded is not None else None,
    )


def api_read_proposals(client, *, page_size: int = 50, max_pages: int = 20) -> list[ProposalState]:
    """Every sent proposal the API lists (follows cursors); `client` is a jobs UpworkGraphQLClient."""
    states: list[ProposalState] = []
    cursor = None
    for _ in range(max_pages):
        data = client.execute(
            VENDOR_PROPOSALS_QUERY,
            {"pagination": {"first": page_size, **({"after": cursor} if cursor else {})}},
        )
        block = data.get("vendorProposals") or {}
        states.extend(node_to_state(edge["node"]) for edge in block.get("edges") or [] if edge.get("node"))
        page_info = block.get("pageInfo") or {}
        cursor = page_info.get("endCursor")
        if not page_info.get("hasNextPage") or not cursor:
            break
    return states
