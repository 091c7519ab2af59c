"""Seeded outcomes simulation: do the suggested weights and threshold buy replies with fewer Connects?

Usage: python bench/outcomes_sim.py [--seed N] [--jobs 2000] [--days 60] [--fit-days 30] [--json]

2,000 jobs arrive over 60 simulated days. Each has a hidden quality (how likely its client is to answer
anyone); its six score parts are drawn correlated with that quality in different strengths (client and
competition say a lot, fit and clarity a little, budget nothing), and freshness is how soon the proposal
went out. The freelancer sends a proposal to every job whose score clears the threshold; the client replies
with a probability that grows with the quality and falls with the hours it took to apply. Each job costs its
Connects (4 to 16).

The first --fit-days days are sent with the default weights and threshold (what the product ships with); their
outcomes go to `applications.analytics.calibration.suggest` -- the same function the calibration page and
`POST /api/analytics/calibration/apply/` use -- and the later days are replayed twice on the same random draws:
once with the defaults, once with the suggested weights and threshold. The report prints Connects per reply for
both and exits non-zero if the suggestion does not lower it by at least 20 %.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upwork_automation.settings.base")

from applications.analytics.calibration import Observation, connects_per_reply, suggest  # noqa: E402
from jobs.scoring import DEFAULT_WEIGHTS, FRESH_FOR_HOURS, weighted_score  # noqa: E402

DEFAULT_THRESHOLD = 60  # SearchProfile.handoff_min_score's default
REQUIRED_DROP_PCT = 20.0
# How strongly each score part follows the hidden quality (0: pure noise).
STRENGTH = {"fit": 0.25, "client": 1.3, "budget": 0.0, "competition": 1.1, "clarity": 0.3}
CONNECTS = (4, 6, 8, 12, 16)


@dataclass
class SimJob:
    day: int
    quality: float
    values: dict[str, float]
    connects: int
    draw: float  # the uniform draw that decides the reply, shared by every policy replaying this job


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def make_jobs(*, seed: int, jobs: int, days: int) -> list[SimJob]:
    rng = random.Random(seed)
    out = []
    for _ in range(jobs):
        quality = rng.gauss(0, 1)
        values = {
            name: min(max(_sigmoid(strength * quality + rng.gauss(0.3, 0.8)), 0.0), 1.0)
            for name, strength in STRENGTH.items()
        }
        hours_to_apply = rng.expovariate(1 / 20)  # mean 20 h between posting and the proposal
        values["freshness"] = max(1.0 - hours_to_apply / FRESH_FOR_HOURS, 0.0)
        out.append(
            SimJob(
                day=rng.randrange(days),
                quality=quality,
                values=values,
                connects=rng.choice(CONNECTS),
                draw=rng.random(),
            )
        )
    return sorted(out, key=lambda job: job.day)


def reply_probability(job: SimJob) -> float:
    """Better clients answer more; a late proposal (low freshness) is read less."""
    return _sigmoid(-2.4 + 1.4 * job.quality + 1.2 * (job.values["freshness"] - 0.8))


def send(jobs: list[SimJob], weights: dict[str, float], threshold: int) -> list[Observation]:
    """The proposals sent under a policy and what became of them."""
    sent = []
    for job in jobs:
        score = weighted_score(job.values, weights)
        if score >= threshold:
            sent.append(
                Observation(
                    values=job.values,
                    replied=job.draw < reply_probability(job),
                    connects=job.connects,
                    score=score,
                )
            )
    return sent


def run(*, seed: int, jobs: int, days: int, fit_days: int) -> dict:
    all_jobs = make_jobs(seed=seed, jobs=jobs, days=days)
    fit_jobs = [job for job in all_jobs if job.day < fit_days]
    held_out = [job for job in all_jobs if job.day >= fit_days]
    training = send(fit_jobs, DEFAULT_WEIGHTS, DEFAULT_THRESHOLD)
    suggestion = suggest(training, current_weights=DEFAULT_WEIGHTS, current_threshold=DEFAULT_THRESHOLD)
    if not suggestion.enough_data:
        raise SystemExit(f"No suggestion: {suggestion.reason}")
    default_sent = send(held_out, DEFAULT_WEIGHTS, DEFAULT_THRESHOLD)
    suggested_sent = send(held_out, suggestion.weights, suggestion.threshold)
    default_cpr = connects_per_reply(default_sent)
    suggested_cpr = connects_per_reply(suggested_sent)
    change = 100 * (suggested_cpr - default_cpr) / default_cpr
    return {
        "seed": seed,
        "jobs": jobs,
        "days": days,
        "fit_days": fit_days,
        "training": {"sent": len(training), "replies": sum(o.replied for o in training)},
        "suggestion": {
            "weights": suggestion.weights,
            "threshold": suggestion.threshold,
            "expected_connects_per_reply": suggestion.expected_connects_per_reply,
            "auc_current": suggestion.auc_current,
            "auc_suggested": suggestion.auc_suggested,
        },
        "held_out": {
            "default": _policy(default_sent, DEFAULT_WEIGHTS, DEFAULT_THRESHOLD, default_cpr),
            "suggested": _policy(suggested_sent, suggestion.weights, suggestion.threshold, suggested_cpr),
        },
        "change_pct": change,
        "passed": change <= -REQUIRED_DROP_PCT,
    }


def _policy(sent: list[Observation], weights: dict, threshold: int, cpr: float | None) -> dict:
    return {
        "weights": dict(weights),
        "threshold": threshold,
        "sent": len(sent),
        "replies": sum(o.replied for o in sent),
        "connects": sum(o.connects for o in sent),
        "connects_per_reply": cpr,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--fit-days", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(seed=args.seed, jobs=args.jobs, days=args.days, fit_days=args.fit_days)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if report["passed"] else 1
    held = report["held_out"]
    print(
        f"Seed {report['seed']}: {report['jobs']} jobs over {report['days']} days; fitted on days 0-{args.fit_days - 1}"
    )
    print(f"Training: {report['training']['sent']} sent, {report['training']['replies']} replies (default policy)")
    s = report["suggestion"]
    print(
        f"Suggested weights {s['weights']}, threshold {s['threshold']} (AUC {s['auc_current']:.3f} -> "
        f"{s['auc_suggested']:.3f} on the training rows)"
    )
    print(f"Held-out days {args.fit_days}-{args.days - 1}:")
    for name in ("default", "suggested"):
        row = held[name]
        print(
            f"  {name:<9} threshold {row['threshold']:>3}: {row['sent']:>4} sent, {row['replies']:>3} replies, "
            f"{row['connects']:>5} Connects, {row['connects_per_reply']:.1f} Connects per reply"
        )
    verdict = "PASS" if report["passed"] else "FAIL"
    print(f"Connects per reply {report['change_pct']:+.1f} % (needs <= -{REQUIRED_DROP_PCT:.0f} %): {verdict}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
