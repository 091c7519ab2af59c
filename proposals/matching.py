"""Attachment choice: rank portfolio pieces by how well their skills and description match a job."""

from __future__ import annotations

import re
from dataclasses import dataclass

_STOPWORDS_TEXT = """a an and are as at be but by can do for from has have i if in into is it its looking me my need
needs of on or our should so that the their them this to us we will with you your who what when which
project work job experience experienced developer help want would like also must able new using use"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
SKILL_WEIGHT = 3.0
WORD_WEIGHT = 1.0


@dataclass(frozen=True)
class AttachmentMatch:
    attachment_id: int
    score: float
    reason: str


def words(text: str) -> set[str]:
    """Content words of a text, lower-cased (keeps tech tokens like c++, node.js, vue3)."""
    tokens = re.findall(r"[a-z0-9][a-z0-9+#.\-]*[a-z0-9+#]|[a-z0-9]", (text or "").lower())
    return {token for token in tokens if token not in STOPWORDS and len(token) > 1}


def _norm(skill: str) -> str:
    return " ".join(str(skill).lower().split())


def match_attachments(*, job, attachments, limit: int) -> list[AttachmentMatch]:
    """The best `limit` attachments for the job, best first; pieces matching nothing are never chosen.

    A skill shared with the job (its skill list, or named in its title or description) counts
    SKILL_WEIGHT; each content word the piece's title and description share with the job counts WORD_WEIGHT.
    Ties go to the older piece (lower id), so the choice is stable.
    """
    job_text = f"{job.title}\n{job.description}"
    job_words = words(job_text) | words(" ".join(job.skills or []))
    job_skills = {_norm(skill) for skill in job.skills or []}
    lowered_text = job_text.lower()
    matches = []
    for attachment in attachments:
        shared_skills = []
        for skill in attachment.skills or []:
            norm = _norm(skill)
            if norm and (norm in job_skills or re.search(rf"(?<![a-z0-9]){re.escape(norm)}(?![a-z0-9])", lowered_text)):
                shared_skills.append(str(skill))
        shared_words = sorted((words(attachment.title) | words(attachment.description)) & job_words)
        shared_words = [w for w in shared_words if w not in {_norm(s) for s in shared_skills}]
        score = SKILL_WEIGHT * len(shared_skills) + WORD_WEIGHT * len(shared_words)
        if score <= 0:
            continue
        parts = []
        if shared_skills:
            parts.append("shows " + ", ".join(shared_skills) + " the job asks for")
        if shared_words:
            parts.append("its description shares: " + ", ".join(shared_words[:8]))
        reason = "Matches the job: " + "; ".join(parts) + f" (score {score:g})."
        matches.append(AttachmentMatch(attachment_id=attachment.id, score=score, reason=reason))
    matches.sort(key=lambda match: (-match.score, match.attachment_id))
    return matches[: max(limit, 0)]
