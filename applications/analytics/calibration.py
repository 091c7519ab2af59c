"""Does the score predict replies? Pure functions over settled outcomes, shared by the product and the simulation.

An `Observation` is one sent proposal whose fate is known: its score parts (0-1 values from the job's
breakdown), whether the client replied (or went further), and the net Connects it cost. Everything here is a
function of a list of them, so `selectors.calibration_report` (rows from the database) and
`bench/outcomes_sim.py` (rows drawn in memory) run the very same code.

The statistics come from scipy (a kept library, not hand-written maths): Wilson intervals
(`binomtest(...).proportion_ci`), the AUC from the Mann-Whitney U statistic, and a logistic regression with
non-negative coefficients fitted by `scipy.optimize.minimize` (L-BFGS-B with bounds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from jobs.scoring import DEFAULT_WEIGHTS, SCORE_PARTS, weighted_score

CONFIDENCE = 0.95
L2_PENALTY = 1.0  # ridge on the logistic coefficients: keeps small samples from giving one part everything
MIN_KEEP_FRACTION = 0.4  # a suggested threshold keeps at least this share of what was sent
MIN_REPLIES_KEPT = 5  # ... and at least this many replies, so Connects per reply is not one lucky draw


@dataclass(frozen=True)
class Observation:
    values: dict[str, float]  # score part -> 0..1
    replied: bool
    connects: float  # net Connects spent (spent - refunded)
    score: int | None = None  # the score it had when chosen (None: recomputed with the current weights)


@dataclass
class Suggestion:
    """Suggested weights and threshold beside the current ones, with what they would have done to these rows."""

    enough_data: bool
    n: int
    replies: int
    min_outcomes: int
    current_weights: dict[str, float]
    current_threshold: int
    weights: dict[str, int] = field(default_factory=dict)
    coefficients: dict[str, float] = field(default_factory=dict)  # the logistic fit the weights come from
    threshold: int | None = None
    current_connects_per_reply: float | None = None
    expected_connects_per_reply: float | None = None
    expected_change_pct: float | None = None
    kept: int = 0  # rows at or above the suggested threshold under the suggested weights
    kept_replies: int = 0
    auc_current: float | None = None
    auc_suggested: float | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion (scipy); (None, None) when n is 0."""
    if n <= 0:
        return None, None
    from scipy.stats import binomtest

    interval = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve: the chance a replied row outscores one that was not (ties count half).

    From the Mann-Whitney U statistic (scipy); None unless both classes are present.
    """
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not positives or not negatives:
        return None
    from scipy.stats import mannwhitneyu

    result = mannwhitneyu(positives, negatives, alternative="two-sided")
    return float(result.statistic) / (len(positives) * len(negatives))


def score_of(observation: Observation, weights: dict[str, float]) -> int:
    return weighted_score(observation.values, weights)


def decile_table(observations: Sequence[Observation], weights: dict[str, float]) -> list[dict]:
    """Reply rate per score decile (0-9, 10-19, ..., 90-100) with its Wilson interval."""
    counts = [[0, 0] for _ in range(10)]
    for row in observations:
        score = row.score if row.score is not None else score_of(row, weights)
        band = min(int(score) // 10, 9)
        counts[band][0] += 1
        counts[band][1] += int(row.replied)
    table = []
    for band, (n, replies) in enumerate(counts):
        low, high = wilson(replies, n)
        table.append(
            {
                "band": f"{band * 10}-{band * 10 + 9 if band < 9 else 100}",
                "low_score": band * 10,
                "n": n,
                "replies": replies,
                "rate": replies / n if n else None,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return table


def fit_logistic(observations: Sequence[Observation]) -> dict[str, float]:
    """Coefficients of P(reply) = sigmoid(b0 + sum b_i * value_i) with b_i >= 0, L2-penalised (scipy L-BFGS-B).

    Non-negative because the score only adds parts up: a part that hurts gets weight zero, not a negative one.
    Returns {"intercept": b0, part: b_i, ...}.
    """
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import expit

    x = np.array([[row.values.get(name, 0.0) for name in SCORE_PARTS] for row in observations], dtype=float)
    y = np.array([1.0 if row.replied else 0.0 for row in observations])
    design = np.hstack([np.ones((len(x), 1)), x])

    def loss(beta):
        z = design @ beta
        # log(1 + e^z) - y z, written stably
        value = np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * L2_PENALTY * np.sum(beta[1:] ** 2)
        grad = design.T @ (expit(z) - y)
        grad[1:] += L2_PENALTY * beta[1:]
        return value, grad

    start = np.zeros(design.shape[1])
    bounds = [(None, None)] + [(0.0, None)] * len(SCORE_PARTS)
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    beta = result.x
    return {"intercept": float(beta[0]), **{name: float(b) for name, b in zip(SCORE_PARTS, beta[1:], strict=True)}}


def factor_evidence(observations: Sequence[Observation], coefficients: dict[str, float] | None = None) -> list[dict]:
    """Per score part: its own AUC against replies, mean value of replied vs not, and its logistic coefficient
    (fitted here unless given, e.g. from Suggestion.coefficients)."""
    if coefficients is None:
        coefficients = fit_logistic(observations) if observations else {}
    labels = [row.replied for row in observations]
    evidence = []
    for name in SCORE_PARTS:
        values = [row.values.get(name, 0.0) for row in observations]
        replied = [v for v, y in zip(values, labels, strict=True) if y]
        silent = [v for v, y in zip(values, labels, strict=True) if not y]
        evidence.append(
            {
                "part": name,
                "auc": auc(values, labels),
                "mean_replied": sum(replied) / len(replied) if replied else None,
                "mean_not_replied": sum(silent) / len(silent) if silent else None,
                "coefficient": coefficients.get(name),
            }
        )
    return evidence


def weights_from_coefficients(coefficients: dict[str, float], fallback: dict[str, float]) -> dict[str, int]:
    """Integer weights summing to 100, proportional to the coefficients (largest remainder); fallback if all 0."""
    raw = {name: max(coefficients.get(name, 0.0), 0.0) for name in SCORE_PARTS}
    total = sum(raw.values())
    if total <= 0:
        raw, total = {name: float(fallback.get(name, 0.0)) for name in SCORE_PARTS}, sum(fallback.values()) or 1.0
    shares = {name: 100 * value / total for name, value in raw.items()}
    weights = {name: math.floor(share) for name, share in shares.items()}
    for name in sorted(SCORE_PARTS, key=lambda n: shares[n] - weights[n], reverse=True)[: 100 - sum(weights.values())]:
        weights[name] += 1
    return weights


def connects_per_reply(observations: Sequence[Observation]) -> float | None:
    replies = sum(1 for row in observations if row.replied)
    return sum(row.connects for row in observations) / replies if replies else None


def best_threshold(
    observations: Sequence[Observation], weights: dict[str, float], *, min_keep_fraction: float = MIN_KEEP_FRACTION
) -> tuple[int, float | None, int, int]:
    """The threshold on the score under `weights` that gives the fewest Connects per reply on these rows, keeping
    at least min_keep_fraction of them and MIN_REPLIES_KEPT replies. (threshold, cpr, kept, kept replies)."""
    scored = sorted(((score_of(row, weights), row) for row in observations), key=lambda pair: pair[0], reverse=True)
    minimum = max(1, math.ceil(min_keep_fraction * len(scored)))
    connects = replies = 0.0
    best: tuple[int, float | None, int, int] = (0, None, 0, 0)
    index = 0
    while index < len(scored):
        score = scored[index][0]
        while index < len(scored) and scored[index][0] == score:  # a threshold keeps every tie
            connects += scored[index][1].connects
            replies += scored[index][1].replied
            index += 1
        if index < minimum or replies < MIN_REPLIES_KEPT:
            continue
        value = connects / replies
        if best[1] is None or value < best[1]:
            best = (score, value, index, int(replies))
    if best[1] is None:  # never enough replies: keep everything
        return 0, connects_per_reply(observations), len(scored), sum(1 for _, r in scored if r.replied)
    return best


def suggest(
    observations: Sequence[Observation],
    *,
    current_weights: dict[str, float] | None = None,
    current_threshold: int = 60,
    min_outcomes: int = 100,
    min_keep_fraction: float = MIN_KEEP_FRACTION,
) -> Suggestion:
    """Suggested weights (from the non-negative logistic fit) and threshold (fewest Connects per reply).

    The expected Connects per reply is what the rows at or above the suggested threshold under the suggested
    weights cost per reply, against all the rows (which were sent under the current weights and threshold).
    """
    current = dict(current_weights or DEFAULT_WEIGHTS)
    replies = sum(1 for row in observations if row.replied)
    suggestion = Suggestion(
        enough_data=False,
        n=len(observations),
        replies=replies,
        min_outcomes=min_outcomes,
        current_weights=current,
        current_threshold=current_threshold,
        current_connects_per_reply=connects_per_reply(observations),
    )
    if len(observations) < min_outcomes or replies < MIN_REPLIES_KEPT or replies == len(observations):
        suggestion.reason = (
            f"Needs at least {min_outcomes} settled outcomes with {MIN_REPLIES_KEPT}+ replies and some silences; "
            f"has {len(observations)} with {replies} replies."
        )
        return suggestion
    labels = [row.replied for row in observations]
    coefficients = fit_logistic(observations)
    weights = weights_from_coefficients(coefficients, current)
    threshold, cpr, kept, kept_replies = best_threshold(observations, weights, min_keep_fraction=min_keep_fraction)
    suggestion.enough_data = True
    suggestion.weights = weights
    suggestion.coefficients = coefficients
    suggestion.threshold = int(threshold)
    suggestion.expected_connects_per_reply = cpr
    suggestion.kept, suggestion.kept_replies = kept, kept_replies
    before = suggestion.current_connects_per_reply
    if before and cpr is not None:
        suggestion.expected_change_pct = 100 * (cpr - before) / before
    suggestion.auc_current = auc(
        [row.score if row.score is not None else score_of(row, current) for row in observations], labels
    )
    suggestion.auc_suggested = auc([score_of(row, weights) for row in observations], labels)
    return suggestion
