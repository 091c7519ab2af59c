# ruff: noqa: S608 -- SQL text is built from constants and table names only; every value is a %(name)s parameter.
"""Analytics reads: the funnel, rates per dimension, spend per outcome, calibration. Aggregated in PostgreSQL.

Two cohorts, both "the last N days":
- the funnel follows the jobs *discovered* in the window, from discovery to hire;
- rates, spend and calibration follow the applications *submitted* in the window.

A sent proposal "reached" a stage when it has an outcome event of that stage or a later one (viewed < replied <
interview < offer < hired), or its `outcome` says so; events are kept once per kind, so a later "declined" does not
undo a reply. One grouped query (`_cube`) reads every submitted application once and groups it by all
dimensions at the same time; the per-dimension rates are sums over that small cube, done in Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from applications.analytics import calibration
from applications.models import Application, OutcomeEvent
from jobs.models import Job, SearchProfile
from jobs.scoring import DEFAULT_WEIGHTS, SCORE_PARTS, profile_weights
from proposals.models import Proposal, ProposalVersion

DEFAULT_DAYS = 30
DEFAULT_THRESHOLD = 60  # a job without a profile: SearchProfile.handoff_min_score's default
FUNNEL = ("discovered", "shortlisted", "drafted", "approved", "submitted", "viewed", "replied", "interview", "hired")
OUTCOME_STAGES = ("viewed", "replied", "interview", "hired")
# Event kinds (and outcomes) that mean a stage was reached.
REACHED = {
    "viewed": ("viewed", "replied", "interview", "offer", "hired"),
    "replied": ("replied", "interview", "offer", "hired"),
    "interview": ("interview", "offer", "hired"),
    "hired": ("hired",),
}
DIMENSIONS = {
    "score_band": "Score band",
    "profile": "Search profile",
    "drafter": "Drafter",
    "prompt_version": "Prompt version",
    "time_to_apply": "Time to apply",
    "budget_band": "Job budget",
    "client_payment": "Client payment",
    "client_spent": "Client spent",
}
TIME_TO_APPLY = ("< 1 h", "1-6 h", "6-24 h", "1-3 d", "> 3 d", "unknown")
BUDGET_BANDS = (
    "fixed < $250",
    "fixed $250-1K",
    "fixed $1K-5K",
    "fixed $5K+",
    "hourly < $25",
    "hourly $25-50",
    "hourly $50-100",
    "hourly $100+",
    "unknown",
)
CLIENT_SPENT = ("none", "< $1K", "$1K-10K", "$10K-100K", "$100K+", "unknown")


def window_start(days: int, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=days)


# Outcomes that end the tracking wherever the proposal got to: only for these can the application's `outcome`
# hide a stage reached before (a reply, then "declined"); every other outcome only moves forward (OUTCOME_RANK), so
# it already names the furthest stage (no_response is recorded only without any client event, and a later event
# moves it forward). The events are looked up (unique index on application, kind) for these rows only.
ENDED_OUTCOMES = ("declined", "job_closed", "job_cancelled", "withdrawn")


def _reached_sql(stage: str) -> str:
    kinds = ", ".join(f"'{kind}'" for kind in REACHED[stage])
    ended = ", ".join(f"'{outcome}'" for outcome in ENDED_OUTCOMES)
    return (
        f"(a.outcome IN ({kinds}) OR (a.outcome IN ({ended}) AND EXISTS (SELECT 1 FROM {{event}} ev "
        f"WHERE ev.application_id = a.id AND ev.kind IN ({kinds}))))"
    )


def _tables() -> dict[str, str]:
    return {
        "app": Application._meta.db_table,
        "event": OutcomeEvent._meta.db_table,
        "job": Job._meta.db_table,
        "version": ProposalVersion._meta.db_table,
        "proposal": Proposal._meta.db_table,
        "profile": SearchProfile._meta.db_table,
    }


def _fetch(sql: str, params: dict) -> tuple[list[str], list[tuple]]:
    """Run one analytics query: column names and rows. JIT off: these plans look expensive to the planner (one
    correlated EXISTS per stage) but run in milliseconds, and compiling them costs more than it saves. work_mem
    32 MB for this transaction only: the GROUPING SETS of 100,000 applications spilled their sorts and hashes to
    disk at the default 4 MB (EXPLAIN: "Sort Method: external merge", temp buffers)."""
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '32MB'")
        cursor.execute(sql.format(**_tables()), params)
        return [col.name for col in cursor.description], cursor.fetchall()


# --- the funnel ----------------------------------------------------------------------------------
def funnel(*, days: int = DEFAULT_DAYS, now: datetime | None = None) -> list[dict]:
    """Jobs discovered in the window and how far each got: one row per stage with count and rate from the previous."""
    since = window_start(days, now)
    sql = (
        """
    SELECT
        COUNT(*) AS discovered,
        COUNT(*) FILTER (WHERE j.passed_filters AND (
            j.status IN ('shortlisted', 'proposal_drafted', 'applied')
            OR j.score >= COALESCE(sp.handoff_min_score, %(default_threshold)s) OR p.id IS NOT NULL)) AS shortlisted,
        COUNT(*) FILTER (WHERE p.current_version > 0) AS drafted,
        COUNT(*) FILTER (WHERE p.status = 'approved' OR a.id IS NOT NULL) AS approved,
        COUNT(*) FILTER (WHERE a.submitted_at IS NOT NULL) AS submitted,
        """
        + ",\n".join(
            f"COUNT(*) FILTER (WHERE a.submitted_at IS NOT NULL AND {_reached_sql(stage)}) AS {stage}"
            for stage in OUTCOME_STAGES
        )
        + """
    FROM {job} j
    LEFT JOIN {profile} sp ON sp.id = j.profile_id
    LEFT JOIN {proposal} p ON p.job_id = j.id
    LEFT JOIN {app} a ON a.job_id = j.id
    WHERE j.discovered_at >= %(since)s
    """
    )
    names, result = _fetch(sql, {"since": since, "default_threshold": DEFAULT_THRESHOLD})
    values = dict(zip(names, result[0], strict=True))
    rows, previous = [], None
    for stage in FUNNEL:
        count = values[stage] or 0
        rows.append(
            {
                "stage": stage,
                "count": count,
                "rate_from_previous": (count / previous) if previous else None,
                "rate_from_discovered": (count / values["discovered"]) if values["discovered"] else None,
            }
        )
        previous = count
    return rows


# --- the cube of submitted applications ------------------------------------------------------
@dataclass
class CubeRow:
    keys: dict[str, str]
    submitted: int
    viewed: int
    replied: int
    interview: int
    hired: int
    connects: int
    openai: Decimal


FACT_COLUMNS = """
            CASE WHEN j.score IS NULL THEN 'unscored'
                 ELSE lpad((LEAST(j.score / 10, 9) * 10)::text, 2, '0') || '-'
                      || CASE WHEN j.score >= 90 THEN '100' ELSE (LEAST(j.score / 10, 9) * 10 + 9)::text END
            END AS score_band,
            COALESCE(j.profile_id::text, '') AS profile,
            CASE WHEN v.source = 'openai' THEN COALESCE(NULLIF(v.model, ''), 'openai')
                 WHEN v.source IS NULL THEN 'unknown' ELSE v.source END AS drafter,
            COALESCE(NULLIF(v.prompt_version, ''), 'unknown') AS prompt_version,
            CASE WHEN j.posted_at IS NULL THEN 'unknown'
                 WHEN a.submitted_at - j.posted_at < interval '1 hour' THEN '< 1 h'
                 WHEN a.submitted_at - j.posted_at < interval '6 hours' THEN '1-6 h'
                 WHEN a.submitted_at - j.posted_at < interval '24 hours' THEN '6-24 h'
                 WHEN a.submitted_at - j.posted_at < interval '3 days' THEN '1-3 d'
                 ELSE '> 3 d' END AS time_to_apply,
            CASE WHEN j.job_type = 'fixed' AND j.budget IS NOT NULL THEN
                     CASE WHEN j.budget < 250 THEN 'fixed < $250' WHEN j.budget < 1000 THEN 'fixed $250-1K'
                          WHEN j.budget < 5000 THEN 'fixed $1K-5K' ELSE 'fixed $5K+' END
                 WHEN j.job_type = 'hourly' AND COALESCE(j.hourly_max, j.hourly_min) IS NOT NULL THEN
                     CASE WHEN COALESCE(j.hourly_max, j.hourly_min) < 25 THEN 'hourly < $25'
                          WHEN COALESCE(j.hourly_max, j.hourly_min) < 50 THEN 'hourly $25-50'
                          WHEN COALESCE(j.hourly_max, j.hourly_min) < 100 THEN 'hourly $50-100'
                          ELSE 'hourly $100+' END
                 ELSE 'unknown' END AS budget_band,
            CASE WHEN j.client_payment_verified IS NULL THEN 'unknown'
                 WHEN j.client_payment_verified THEN 'verified' ELSE 'not verified' END AS client_payment,
            CASE WHEN j.client_total_spent IS NULL THEN 'unknown' WHEN j.client_total_spent <= 0 THEN 'none'
                 WHEN j.client_total_spent < 1000 THEN '< $1K' WHEN j.client_total_spent < 10000 THEN '$1K-10K'
                 WHEN j.client_total_spent < 100000 THEN '$10K-100K' ELSE '$100K+' END AS client_spent,
"""


def _facts_sql(extra_columns: str = "", *, bounded: str | bool = False) -> str:
    """One row per application submitted since %(since)s: its dimension values, stages reached and spend.
    bounded "one": and before %(until)s; bounded True: in [since, until) or [since2, until2)."""
    return (
        """WITH
    facts AS (
        SELECT"""
        + FACT_COLUMNS
        + ",\n".join(f"{_reached_sql(stage)} AS {stage}" for stage in OUTCOME_STAGES)
        + """,
            GREATEST(a.connects_spent - a.connects_refunded, 0) AS connects,
            -- Every version's cost. A sent proposal gets no version after the one sent (reopening is refused once
            -- an application went out), so when the sent one is version 1 its cost is the total: most rows.
            CASE WHEN v.number = 1 THEN v.estimated_cost
                 ELSE COALESCE((SELECT SUM(pv.estimated_cost) FROM {version} pv
                                WHERE pv.proposal_id = a.proposal_id), 0) END AS openai"""
        + extra_columns
        + """
        FROM {app} a
        JOIN {job} j ON j.id = a.job_id
        LEFT JOIN {version} v ON v.id = a.proposal_version_id
        WHERE """
        + (
            "a.submitted_at >= %(since)s AND a.submitted_at < %(until)s"
            if bounded == "one"
            else "((a.submitted_at >= %(since)s AND a.submitted_at < %(until)s)"
            " OR (a.submitted_at >= %(since2)s AND a.submitted_at < %(until2)s))"
            if bounded
            else "a.submitted_at >= %(since)s"
        )
        + """
    )"""
    )


GROUPED = (*DIMENSIONS, "score", "replied", "settled")
ALL_BITS = (1 << len(GROUPED)) - 1  # GROUPING(...) of the empty set: every column aggregated away


def _cube(
    *, since: datetime, now: datetime | None = None, with_calibration: bool = False, until: datetime | None = None,
    also: tuple[datetime, datetime] | None = None,
):  # fmt: skip
    """Submitted applications in the window (until: only those before it, and `also` those in [also[0], also[1])),
    one scan grouped by each dimension
    separately, in total, and (for calibration_summary) the settled ones by (score, replied): GROUPING SETS, hashed
    in one pass.

    Returns CubeRow per (dimension, value) plus one with keys {"total": ""}; with_calibration, (cube, counts).
    """
    sets = [f"({name})" for name in DIMENSIONS] + ["()", "(score, replied, settled)"]
    sql = (
        _facts_sql(f",\n j.score AS score, {_settled_sql()} AS settled", bounded=until is not None)
        + f"""
    SELECT {", ".join(GROUPED)}, COUNT(*), """
        + ", ".join(f"COUNT(*) FILTER (WHERE {stage})" for stage in OUTCOME_STAGES)
        + f""",
        SUM(connects), SUM(openai), GROUPING({", ".join(GROUPED)})
    FROM facts
    GROUP BY GROUPING SETS ({", ".join(sets)})
    """
    )
    since2, until2 = also or (until, until)
    _names, result = _fetch(sql, {**_settled_params(since, now), "until": until, "since2": since2, "until2": until2})
    width = len(GROUPED)
    dimension_of = {ALL_BITS ^ (1 << (width - 1 - index)): name for index, name in enumerate(DIMENSIONS)}
    dimension_of[ALL_BITS] = "total"
    calibration_bits = ALL_BITS ^ 0b111
    cube, counts = [], []
    for row in result:
        grouping = row[-1]
        submitted = row[width]
        if grouping == calibration_bits:
            if row[width - 1] and row[width - 3] is not None:  # settled, scored
                counts.append((row[width - 3], row[width - 2], submitted))
            continue
        name = dimension_of[grouping]
        cube.append(
            CubeRow(
                keys={name: "" if name == "total" else row[list(DIMENSIONS).index(name)]},
                submitted=submitted,
                viewed=row[width + 1],
                replied=row[width + 2],
                interview=row[width + 3],
                hired=row[width + 4],
                connects=int(row[width + 5] or 0),
                openai=Decimal(row[width + 6] or 0),
            )
        )
    return (cube, counts) if with_calibration else cube


EXPORT_COLUMNS = (
    "application_id",
    "job_id",
    "upwork_id",
    "title",
    "profile",
    "score",
    "submitted_at",
    "outcome",
    *DIMENSIONS,
    *OUTCOME_STAGES,
    "connects",
    "openai",
)


def export_rows(*, days: int = DEFAULT_DAYS, now: datetime | None = None):
    """One tuple per application submitted in the window (EXPORT_COLUMNS), oldest first, read in batches."""
    sql = (
        _facts_sql(
            ",\n a.id AS application_id, j.id AS job_id, j.upwork_id, j.title, sp.name AS profile_name,"
            " j.score, a.submitted_at, a.outcome"
        ).replace(
            "JOIN {job} j ON j.id = a.job_id",
            "JOIN {job} j ON j.id = a.job_id LEFT JOIN {profile} sp ON sp.id = j.profile_id",
        )
        + """
    SELECT application_id, job_id, upwork_id, title, COALESCE(profile_name, ''), score, submitted_at, outcome, """
        + ", ".join(DIMENSIONS)
        + ", "
        + ", ".join(OUTCOME_STAGES)
        + """, connects, openai
    FROM facts ORDER BY submitted_at, application_id
    """
    )
    with connection.cursor() as cursor:
        cursor.execute(sql.format(**_tables()), {"since": window_start(days, now)})
        while batch := cursor.fetchmany(2000):
            yield from batch


def _per(total, count):
    return (total / count) if count else None


def _figures(submitted, viewed, replied, interview, hired, connects, openai) -> dict:
    return {
        "submitted": submitted,
        "viewed": viewed,
        "replied": replied,
        "interview": interview,
        "hired": hired,
        "view_rate": _per(viewed, submitted),
        "reply_rate": _per(replied, submitted),
        "interview_rate": _per(interview, submitted),
        "hire_rate": _per(hired, submitted),
        "connects": connects,
        "openai": openai,
        "connects_per_reply": _per(connects, replied),
        "openai_per_reply": _per(openai, replied),
    }


def _sum(rows: list[CubeRow]) -> dict:
    """The figures of these rows added up; given a whole cube, its total row."""
    totals = [row for row in rows if "total" in row.keys]
    rows = totals if totals else rows
    return _figures(
        sum(r.submitted for r in rows),
        sum(r.viewed for r in rows),
        sum(r.replied for r in rows),
        sum(r.interview for r in rows),
        sum(r.hired for r in rows),
        sum(r.connects for r in rows),
        sum((r.openai for r in rows), Decimal("0")),
    )


def _order(dimension: str, labels: list[str]) -> list[str]:
    fixed = {"time_to_apply": TIME_TO_APPLY, "budget_band": BUDGET_BANDS, "client_spent": CLIENT_SPENT}.get(dimension)
    if fixed:
        return [label for label in fixed if label in labels] + sorted(set(labels) - set(fixed))
    return sorted(labels, reverse=dimension == "score_band")


def rates(*, days: int = DEFAULT_DAYS, now: datetime | None = None, cube: list[CubeRow] | None = None) -> dict:
    """Per dimension, per value: sent, viewed, replied, interview, hired, their rates and spend per reply."""
    cube = _cube(since=window_start(days, now)) if cube is None else cube
    profiles = dict(SearchProfile.objects.values_list("id", "name"))
    out = {}
    for dimension, label in DIMENSIONS.items():
        groups: dict[str, list[CubeRow]] = defaultdict(list)
        for row in cube:
            if dimension in row.keys:
                groups[row.keys[dimension]].append(row)
        values = []
        for key in _order(dimension, list(groups)):
            name = key
            if dimension == "profile":
                name = profiles.get(int(key), f"profile {key}") if key else "(no profile)"
            values.append({"key": key, "label": name, **_sum(groups[key])})
        out[dimension] = {"label": label, "rows": values}
    return out


def spend(*, days: int = DEFAULT_DAYS, now: datetime | None = None, cube: list[CubeRow] | None = None) -> dict:
    """Connects (net of refunds) and OpenAI spend in total and per reply, interview and hire."""
    cube = _cube(since=window_start(days, now)) if cube is None else cube
    total = _sum(cube)
    return {
        "submitted": total["submitted"],
        "connects": total["connects"],
        "openai": total["openai"],
        "per": {
            stage: {
                "count": total[stage],
                "connects": _per(total["connects"], total[stage]),
                "openai": _per(total["openai"], total[stage]),
            }
            for stage in ("replied", "interview", "hired")
        },
    }


def cube_for(*, days: int, now: datetime | None = None, use_cache: bool = True):
    """The cube and the calibration counts of the window, and when they were computed.

    From the per-day rollup (applications/analytics/rollup.py: the days whose applications changed are recounted
    first, the window's partial first day and the "settled by silence" line's day are counted live), and through
    Django's cache for ANALYTICS_OVERVIEW_CACHE_SECONDS under the per-day fingerprints of the window, so a
    recorded outcome, refund or new submission is counted at the next request. A change to a job already applied
    to (Job has no updated_at: re-scored, budget re-read) waits for the nightly rebuild; the window moving waits
    for the TTL; the page shows when the figures were computed. Computed live from the applications (no rollup,
    no cache) when `now` is given or use_cache is False."""
    from applications.analytics import rollup

    since = window_start(days, now)
    if now is not None or not use_cache:
        cube, counts = _cube(since=since, now=now, with_calibration=True)
        return cube, counts, now or timezone.now()
    current = rollup.fingerprints(since.astimezone(UTC).date())

    def compute():
        return rollup.rolled_cube(since=since, current=current)

    if not settings.ANALYTICS_OVERVIEW_CACHE_SECONDS:
        cube, counts = compute()
        return cube, counts, timezone.now()
    hour = since.replace(minute=0, second=0, microsecond=0)
    (cube, counts), computed_at = _cached(
        ("cube", days, hour, sorted(current.items())), compute, settings.ANALYTICS_OVERVIEW_CACHE_SECONDS
    )
    return cube, counts, computed_at


def overview(*, days: int = DEFAULT_DAYS, now: datetime | None = None, use_cache: bool = True) -> dict:
    """Everything the analytics page and `applications stats` show, from two queries (funnel; cube + calibration
    counts), the cube through the cache (cube_for)."""
    since = window_start(days, now)
    cube, counts, computed_at = cube_for(days=days, now=now, use_cache=use_cache)
    return {
        "days": days,
        "since": since,
        "cube_computed_at": computed_at,
        "funnel": funnel(days=days, now=now),
        "totals": _sum(cube),
        "spend": spend(cube=cube),
        "rates": rates(cube=cube),
        "calibration": calibration_summary(days=days, now=now, counts=counts),
    }


# --- calibration -----------------------------------------------------------------------------
def _settled_sql() -> str:
    """Sent proposals whose fate is known: a reply (or further), a final outcome, or silence past the window."""
    return (
        f"({_reached_sql('replied')} OR (a.outcome IN ('no_response', 'declined', 'job_closed', 'job_cancelled')) "
        "OR (a.outcome <> 'withdrawn' AND a.submitted_at < %(settled_before)s))"
    )


def _settled_params(since: datetime, now: datetime | None) -> dict:
    days = getattr(settings, "OUTCOME_NO_RESPONSE_DAYS", 14)
    return {"since": since, "settled_before": (now or timezone.now()) - timedelta(days=days)}


def calibration_summary(
    *, days: int = DEFAULT_DAYS, now: datetime | None = None, profile_id: int | None = None, counts=None
) -> dict:
    """Reply rate per score decile (Wilson intervals) and the AUC of the score, from (score, replied) counts."""
    import numpy as np

    since = window_start(days, now)
    sql = f"""
    SELECT j.score, {_reached_sql("replied")} AS replied, COUNT(*)
    FROM {{app}} a JOIN {{job}} j ON j.id = a.job_id
    WHERE a.submitted_at >= %(since)s AND j.score IS NOT NULL AND {_settled_sql()}
    {"AND j.profile_id = %(profile_id)s" if profile_id is not None else ""}
    GROUP BY 1, 2
    """
    if counts is None:
        _names, counts = _fetch(sql, {**_settled_params(since, now), "profile_id": profile_id})
    deciles = [[0, 0] for _ in range(10)]
    for score, replied, count in counts:
        band = min(score // 10, 9)
        deciles[band][0] += count
        deciles[band][1] += count if replied else 0
    table = []
    for band, (n, replies) in enumerate(deciles):
        low, high = calibration.wilson(replies, n)
        table.append(
            {
                "band": f"{band * 10}-{band * 10 + 9 if band < 9 else 100}",
                "n": n,
                "replies": replies,
                "rate": _per(replies, n),
                "ci_low": low,
                "ci_high": high,
            }
        )
    n = sum(row["n"] for row in table)
    replies = sum(row["replies"] for row in table)
    min_n = settings.ANALYTICS_MIN_OUTCOMES
    score_auc = None
    if n >= min_n and counts:
        scores = np.repeat([row[0] for row in counts], [row[2] for row in counts])
        labels = np.repeat([bool(row[1]) for row in counts], [row[2] for row in counts])
        score_auc = calibration.auc(scores, labels)
    return {
        "settled": n,
        "replies": replies,
        "reply_rate": _per(replies, n),
        "min_outcomes": min_n,
        "auc": score_auc,
        "deciles": table,
    }


def observations(*, profile_id: int | None, days: int, now: datetime | None = None) -> list[calibration.Observation]:
    """Settled sent proposals of a profile (None: jobs without one) with their score parts, newest first, capped
    at ANALYTICS_CALIBRATION_MAX_ROWS."""
    since = window_start(days, now)
    parts = ", ".join(f"(j.score_breakdown -> '{name}' ->> 'value')::float" for name in SCORE_PARTS)
    profile_filter = "j.profile_id = %(profile_id)s" if profile_id is not None else "j.profile_id IS NULL"
    sql = f"""
    SELECT j.score, {_reached_sql("replied")}, GREATEST(a.connects_spent - a.connects_refunded, 0), {parts}
    FROM {{app}} a JOIN {{job}} j ON j.id = a.job_id
    WHERE a.submitted_at >= %(since)s AND {profile_filter} AND {_settled_sql()}
      AND j.score_breakdown ? 'fit'
    ORDER BY a.submitted_at DESC
    LIMIT %(limit)s
    """
    params = {**_settled_params(since, now), "profile_id": profile_id, "limit": settings.ANALYTICS_CALIBRATION_MAX_ROWS}
    _names, rows = _fetch(sql, params)
    return [
        calibration.Observation(
            values={
                name: (value if value is not None else 0.5) for name, value in zip(SCORE_PARTS, row[3:], strict=True)
            },
            replied=bool(row[1]),
            connects=float(row[2]),
            score=row[0],
        )
        for row in rows
    ]


def profile_suggestion(*, profile: SearchProfile, days: int, now: datetime | None = None) -> dict:
    """The calibration of one profile: its deciles, AUC, per-part evidence and the suggested weights/threshold."""
    rows = observations(profile_id=profile.id, days=days, now=now)
    weights = profile_weights(profile)
    suggestion = calibration.suggest(
        rows,
        current_weights=weights,
        current_threshold=profile.handoff_min_score,
        min_outcomes=settings.ANALYTICS_MIN_OUTCOMES,
    )
    enough = len(rows) >= settings.ANALYTICS_MIN_OUTCOMES
    return {
        "profile": {"id": profile.id, "name": profile.name},
        "days": days,
        "suggestion": suggestion.as_dict(),
        "evidence": calibration.factor_evidence(rows, suggestion.coefficients or None) if enough else [],
        "deciles": calibration.decile_table(rows, weights),
        "auc": calibration.auc([r.score for r in rows], [r.replied for r in rows]) if enough else None,
    }


# --- the calibration ---------------------------------------------------------------------------
# The calibration fits a regression per profile on up to ANALYTICS_CALIBRATION_MAX_ROWS rows: seconds with 100,000
# applications. The page and the API never run it: they show the report the analytics_refresh task stored
# (applications/analytics/background.py), keyed by _fingerprint below: how many applications were submitted in the
# window and the latest `updated_at` (recording an outcome event, a refund or a new submission saves the
# application, so any of them changes it at once). Apply (services.calibration_apply) recomputes from the
# outcomes at that moment.


def _fingerprint(since: datetime) -> str:
    """How many applications were submitted since `since` (rounded down to the hour, so the moving window does
    not change the key at every request) and the latest change to one: an index-only scan of
    applications_submitted_idx."""
    since = since.replace(minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), MAX(updated_at) FROM {Application._meta.db_table} "
            "WHERE submitted_at IS NOT NULL AND submitted_at >= %s",
            [since],
        )
        count, latest = cursor.fetchone()
    return f"{count}:{latest.isoformat() if latest else '-'}"


CACHE_PREFIX = "analytics"


def _cached(key_parts: tuple, compute, seconds: int):
    """compute() through Django's cache for `seconds` under a key that names everything it is computed from;
    returns (value, computed_at)."""
    import hashlib
    import json

    from django.core.cache import cache

    digest = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
    key = f"{CACHE_PREFIX}:{digest}"
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = (compute(), timezone.now())
    cache.set(key, value, seconds)
    return value


def calibration_report(*, days: int, now: datetime | None = None, profile_id: int | None = None) -> dict:
    """Every enabled profile's calibration (or one profile's), with the overall deciles and AUC, computed now
    (the analytics_refresh task's work; the page shows what it stored)."""
    profiles = SearchProfile.objects.order_by("name")
    if profile_id is not None:
        profiles = profiles.filter(id=profile_id)
    return {
        "days": days,
        "computed_at": now or timezone.now(),
        "overall": calibration_summary(days=days, now=now),
        "default_weights": DEFAULT_WEIGHTS,
        "profiles": [profile_suggestion(profile=profile, days=days, now=now) for profile in profiles],
    }
