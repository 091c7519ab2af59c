"""Hard filters and the 0-100 score with its readable breakdown. Pure functions of a job and a profile."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

DEFAULT_WEIGHTS = {"fit": 30, "client": 20, "budget": 20, "competition": 10, "freshness": 10, "clarity": 10}
SCORE_PARTS = tuple(DEFAULT_WEIGHTS)
# Lower bound of proposals in each tier Upwork shows.
TIER_LOWER_BOUNDS = {
    "less than 5": 0,
    "5 to 10": 5,
    "10 to 15": 10,
    "15 to 20": 15,
    "20 to 50": 20,
    "50+": 50,
}
TIER_COMPETITION = {"less than 5": 1.0, "5 to 10": 0.8, "10 to 15": 0.6, "15 to 20": 0.45, "20 to 50": 0.25, "50+": 0.0}
FRESH_FOR_HOURS = 168  # a week old scores zero for freshness


@dataclass
class Evaluation:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    score: int = 0
    breakdown: dict = field(default_factory=dict)


def profile_weights(profile) -> dict[str, float]:
    """The profile's weights over the defaults; unknown keys ignored, negatives treated as zero."""
    weights = dict(DEFAULT_WEIGHTS)
    for part, value in (profile.score_weights or {}).items():
        if part in weights:
            weights[part] = max(float(value), 0.0)
    return weights


def weighted_score(values: dict[str, float], weights: dict[str, float]) -> int:
    """The 0-100 score from part values (0-1) and weights: what evaluate computes, for re-scoring stored values."""
    total_weight = sum(weights.get(name, 0.0) for name in SCORE_PARTS)
    if not total_weight:
        return 0
    weighted = sum(max(0.0, min(float(values.get(name, 0.0)), 1.0)) * weights.get(name, 0.0) for name in SCORE_PARTS)
    return round(100 * weighted / total_weight)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9+#.]+", text.lower()))


def _contains_phrase(haystack: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase.lower())}(?![a-z0-9])", haystack) is not None


def _below(value, floor) -> bool:
    """True only when both are known and the value is under the floor."""
    return value is not None and floor is not None and value < floor


def hard_filter_reasons(job, profile) -> list[str]:
    """Why the job must be dropped; empty when it passes. Unknown values never drop a job."""
    reasons = []
    text = f"{job.title}\n{job.description}".lower()
    if profile.require_payment_verified and job.client_payment_verified is False:
        reasons.append("Client's payment method is not verified.")
    excluded_countries = {c.lower() for c in profile.excluded_countries or []}
    if job.client_country and job.client_country.lower() in excluded_countries:
        reasons.append(f"Client country {job.client_country} is excluded.")
    hits = [word for word in profile.excluded_words or [] if word and _contains_phrase(text, word)]
    if hits:
        reasons.append(f"Mentions excluded word(s): {', '.join(hits)}.")
    if job.job_type == "fixed" and _below(job.budget, profile.min_fixed_budget):
        reasons.append(f"Fixed budget ${job.budget} is below the floor ${profile.min_fixed_budget}.")
    top_rate = job.hourly_max or job.hourly_min
    if job.job_type == "hourly" and _below(top_rate, profile.min_hourly_rate):
        reasons.append(f"Hourly rate up to ${top_rate} is below the floor ${profile.min_hourly_rate}.")
    if profile.max_proposals is not None and job.proposals_tier:
        lower = TIER_LOWER_BOUNDS.get(job.proposals_tier.lower())
        if lower is not None and lower >= profile.max_proposals:
            reasons.append(f"Already {job.proposals_tier} proposals (limit {profile.max_proposals}).")
    if _below(job.client_total_spent, profile.min_client_spent):
        reasons.append(f"Client spent ${job.client_total_spent}, below ${profile.min_client_spent}.")
    if _below(job.client_rating, profile.min_client_rating):
        reasons.append(f"Client rating {job.client_rating} is below {profile.min_client_rating}.")
    if _below(job.client_hires, profile.min_client_hires):
        reasons.append(f"Client made {job.client_hires} hires, below {profile.min_client_hires}.")
    return reasons


def _fit(job, profile) -> tuple[float, str]:
    job_skills = {s.lower() for s in job.skills or []}
    wanted_skills = {s.lower() for s in profile.skills or []}
    text = f"{job.title}\n{job.description}\n{' '.join(job.skills or [])}".lower()
    keywords = [k for k in profile.keywords or [] if k]
    notes = []
    parts = []
    if wanted_skills:
        overlap = job_skills & wanted_skills
        denominator = min(len(wanted_skills), len(job_skills)) or 1
        parts.append((0.6, len(overlap) / denominator))
        notes.append(f"skills {len(overlap)}/{denominator} ({', '.join(sorted(overlap)) or 'none'})")
    if keywords:
        found = [k for k in keywords if _words(k) <= _words(text)]
        parts.append((0.4, len(found) / len(keywords)))
        notes.append(f"keywords {len(found)}/{len(keywords)}")
    if not parts:
        return 0.5, "profile has no skills or keywords"
    total_weight = sum(weight for weight, _ in parts)
    return sum(weight * value for weight, value in parts) / total_weight, "; ".join(notes)


def _client(job) -> tuple[float, str]:
    values, notes = [], []
    if job.client_total_spent is not None:
        spent = float(job.client_total_spent)
        values.append(min(math.log10(spent + 1) / 5, 1.0))  # $100K+ is full marks
        notes.append(f"spent ${spent:,.0f}")
    if job.client_hires is not None:
        values.append(min(job.client_hires / 20, 1.0))
        notes.append(f"{job.client_hires} hires")
    if job.client_rating is not None:
        values.append(float(job.client_rating) / 5)
        notes.append(f"rated {job.client_rating}")
    if job.client_payment_verified is not None:
        values.append(1.0 if job.client_payment_verified else 0.0)
        notes.append("payment verified" if job.client_payment_verified else "payment not verified")
    if not values:
        return 0.5, "nothing known about the client"
    return sum(values) / len(values), ", ".join(notes)


def _budget(job, profile) -> tuple[float, str]:
    if job.job_type == "hourly":
        top = job.hourly_max or job.hourly_min
        if top is None:
            return 0.5, "hourly, no rate given"
        if not profile.target_hourly_rate:
            return 0.5, f"up to ${top}/h; no target rate set"
        ratio = float(top) / float(profile.target_hourly_rate)
        return min(ratio, 1.0), f"up to ${top}/h vs target ${profile.target_hourly_rate}/h"
    if job.budget is None:
        return 0.5, "no budget given"
    target = profile.target_fixed_budget or profile.min_fixed_budget
    if not target:
        return 0.5, f"fixed ${job.budget}; no target budget set"
    return min(float(job.budget) / float(target), 1.0), f"fixed ${job.budget} vs target ${target}"


def _competition(job) -> tuple[float, str]:
    value = TIER_COMPETITION.get((job.proposals_tier or "").lower())
    if value is None:
        return 0.5, "proposal count unknown"
    return value, f"{job.proposals_tier} proposals"


def _freshness(job, now: datetime) -> tuple[float, str]:
    if job.posted_at is None:
        return 0.5, "posting time unknown"
    hours = max((now - job.posted_at).total_seconds() / 3600, 0.0)
    return max(1.0 - hours / FRESH_FOR_HOURS, 0.0), f"posted {hours:.0f}h ago"


def _clarity(job) -> tuple[float, str]:
    length = len(job.description or "")
    value = 0.6 * min(length / 800, 1.0)
    value += 0.2 if job.skills else 0.0
    value += 0.2 if (job.budget or job.hourly_max or job.hourly_min) else 0.0
    return value, f"{length} characters, {'skills listed' if job.skills else 'no skills'}"


def evaluate(job, profile, *, now: datetime | None = None) -> Evaluation:
    """Apply the profile's hard filters and compute the weighted 0-100 score with one line per part."""
    now = now or timezone.now()
    weights = profile_weights(profile)
    parts = {
        "fit": _fit(job, profile),
        "client": _client(job),
        "budget": _budget(job, profile),
        "competition": _competition(job),
        "freshness": _freshness(job, now),
        "clarity": _clarity(job),
    }
    total_weight = sum(weights.values())
    breakdown = {}
    values = {}
    for name, (value, reason) in parts.items():
        value = values[name] = max(0.0, min(value, 1.0))
        breakdown[name] = {
            "value": round(value, 3),
            "weight": weights[name],
            "points": round(100 * value * weights[name] / total_weight, 1) if total_weight else 0.0,
            "reason": reason,
        }
    score = weighted_score(values, weights)
    reasons = hard_filter_reasons(job, profile)
    return Evaluation(passed=not reasons, reasons=reasons, score=int(score), breakdown=breakdown)


def explain(breakdown: dict) -> str:
    """One readable line per part, e.g. 'fit 24.0 pts (weight 30): skills 2/3 ...'."""
    lines = []
    for name in SCORE_PARTS:
        part = breakdown.get(name)
        if part:
            lines.append(f"{name} {part['points']} pts (weight {part['weight']:g}): {part['reason']}")
    return "\n".join(lines)


def as_decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))
