# ruff: noqa: S608 -- SQL text is built from constants and table names only; every value is a %(name)s parameter.
"""The rates cube from a per-day rollup instead of a scan of every application in the window (issue 22).

`AnalyticsRollup` holds, per UTC day of submission, what `selectors._cube` counts: per (dimension, value), the day's
total, and the calibration counts per (score, replied, settled by its outcome, withdrawn). It is computed by the
same SQL as the live cube (`selectors._facts_sql`), one day at a time, so it cannot count differently.

It is kept current by the data, not by a timer: `AnalyticsDay` stores each day's fingerprint (how many
applications, and the sum of their `updated_at`) as it was when that day was counted. Every write that can change a
figure saves the application (a submission, an outcome event, a refund: `updated_at` moves forward), so it changes
its day's fingerprint; `refresh()` compares the fingerprints of the window's days (one index-only scan of
`applications_submitted_idx`) and recounts only the days that differ. A page after an outcome recounts one or a
few days (about 1,100 applications each at 100,000 over 90 days), not the window. What the fingerprint cannot see,
a job edited after it was applied to (`Job` has no `updated_at`), is caught by the nightly full rebuild (the
analytics_refresh task with full=True, `manage.py applications analytics-rollup --rebuild`).

Reading a window (`rolled_cube`): the full days come from the rollup; two slices are counted live, each at most a
day: the window's first, partial day (from `since` to the next midnight) and the day on which "settled by
silence" (submitted before now - OUTCOME_NO_RESPONSE_DAYS) changes from false to true. In the other days every
application is on one side of that line, so the rollup's flags say whether it is settled.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from applications.analytics import selectors
from applications.models import AnalyticsDay, AnalyticsRollup, Application

LOCK_KEY = 722_022  # pg_advisory_xact_lock: one recount at a time
CALIBRATION = "calibration"
TOTAL = "total"
FLAGS = ("score", "replied", "settled_outcome", "withdrawn")
STAGES = selectors.OUTCOME_STAGES


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def fingerprints(since_day: date, until_day: date | None = None) -> dict[date, str]:
    """{day: "count:sum of updated_at"} of the applications submitted from since_day (to until_day, inclusive)."""
    until = _midnight(until_day + timedelta(days=1)) if until_day else datetime.max.replace(tzinfo=UTC)
    params = {"since": _midnight(since_day), "until": until}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (submitted_at AT TIME ZONE 'UTC')::date, COUNT(*), SUM(EXTRACT(EPOCH FROM updated_at)) "
            f"FROM {Application._meta.db_table} "
            "WHERE submitted_at IS NOT NULL AND submitted_at >= %(since)s AND submitted_at < %(until)s GROUP BY 1",
            params,
        )
        return {day: f"{count}:{total}" for day, count, total in cursor.fetchall()}


def _count_days(days: list[date]) -> list[AnalyticsRollup]:
    """The rollup rows of these days, counted from the applications now (the live cube's SQL, grouped by day)."""
    if not days:
        return []
    dims = list(selectors.DIMENSIONS)
    grouped = [*dims, *FLAGS]
    settled_outcome = (
        f"({selectors._reached_sql('replied')} OR a.outcome IN ('no_response', 'declined', 'job_closed', "
        "'job_cancelled'))"
    )
    extra = (
        ",\n (a.submitted_at AT TIME ZONE 'UTC')::date AS day, j.score AS score, "
        f"{settled_outcome} AS settled_outcome, a.outcome = 'withdrawn' AS withdrawn"
    )
    sets = [f"(day, {name})" for name in dims] + ["(day)", f"(day, {', '.join(FLAGS)})"]
    sql = (
        selectors._facts_sql(extra, bounded="one")
        + f"""
    SELECT day, {", ".join(grouped)}, COUNT(*), """
        + ", ".join(f"COUNT(*) FILTER (WHERE {stage})" for stage in STAGES)
        + f""",
        SUM(connects), SUM(openai), GROUPING({", ".join(grouped)})
    FROM facts
    WHERE day = ANY(%(days)s)
    GROUP BY GROUPING SETS ({", ".join(sets)})
    """
    )
    params = {"since": _midnight(min(days)), "until": _midnight(max(days) + timedelta(days=1)), "days": days}
    _names, result = selectors._fetch(sql, params)
    width = len(grouped)
    all_bits = (1 << width) - 1
    dimension_of = {all_bits ^ (1 << (width - 1 - index)): name for index, name in enumerate(dims)}
    dimension_of[all_bits] = TOTAL
    dimension_of[all_bits ^ 0b1111] = CALIBRATION
    rows = []
    for row in result:
        day, keys, figures, grouping = row[0], row[1 : width + 1], row[width + 1 :], row[-1]
        name = dimension_of[grouping]
        if name == TOTAL:
            value = ""
        elif name == CALIBRATION:
            score, replied, settled, withdrawn = keys[-4:]
            value = f"{'-' if score is None else score}|{int(replied)}|{int(settled)}|{int(withdrawn)}"
        else:
            value = keys[dims.index(name)]
        submitted, viewed, replied, interview, hired, connects, openai = figures[:7]
        rows.append(
            AnalyticsRollup(
                day=day, dimension=name, value=value, submitted=submitted, viewed=viewed, replied=replied,
                interview=interview, hired=hired, connects=int(connects or 0), openai=Decimal(openai or 0),
            )
        )  # fmt: skip
    return rows


def refresh(
    since_day: date,
    *,
    until_day: date | None = None,
    rebuild: bool = False,
    current: dict | None = None,
    recount: set[date] | frozenset = frozenset(),
) -> list[date]:
    """Recount the days from since_day whose fingerprint changed, and those in `recount` (rebuild: every day);
    returns the days recounted. current: fingerprints() of at least these days, if the caller has read them."""
    if current is None:
        current = fingerprints(since_day, until_day)
    current = {day: value for day, value in current.items() if day >= since_day}
    stored = AnalyticsDay.objects.filter(day__gte=since_day)
    if until_day is not None:
        stored = stored.filter(day__lte=until_day)
    known = dict(stored.values_list("day", "fingerprint"))
    stale = sorted(
        day for day in set(current) | set(known) if rebuild or day in recount or current.get(day) != known.get(day)
    )
    if not stale:
        return []
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        if not rebuild:  # another request may have recounted them while this one waited for the lock
            done = dict(AnalyticsDay.objects.filter(day__in=stale).values_list("day", "fingerprint"))
            stale = [day for day in stale if day in recount or done.get(day) != current.get(day)]
            if not stale:
                return []
        rows = _count_days([day for day in stale if day in current])
        AnalyticsRollup.objects.filter(day__in=stale).delete()
        AnalyticsDay.objects.filter(day__in=stale).delete()
        AnalyticsRollup.objects.bulk_create(rows, batch_size=2000)
        AnalyticsDay.objects.bulk_create(
            [AnalyticsDay(day=day, fingerprint=current[day], computed_at=now) for day in stale if day in current]
        )
    return stale


def rebuild() -> int:
    """Count every day again (what was counted is replaced in the same transaction, so a reader sees the old
    figures or the new, never an empty rollup); returns how many days have applications."""
    first = Application.objects.filter(submitted_at__isnull=False).order_by("submitted_at").first()
    with transaction.atomic():
        if first is None:
            AnalyticsRollup.objects.all().delete()
            AnalyticsDay.objects.all().delete()
            return 0
        AnalyticsRollup.objects.filter(day__lt=_day_of(first.submitted_at)).delete()
        AnalyticsDay.objects.filter(day__lt=_day_of(first.submitted_at)).delete()
        return len(refresh(_day_of(first.submitted_at), rebuild=True))


def _add(rows: dict, key: tuple, figures) -> None:
    target = rows[key]
    for index, value in enumerate(figures):
        target[index] += value


def rolled_cube(*, since: datetime, now: datetime | None = None, current: dict | None = None):
    """What selectors._cube(since=since, with_calibration=True) returns, read from the rollup (refreshed first)
    and at most two live one-day slices: (cube rows, calibration counts). current: fingerprints() from the day of
    `since` on, if the caller has read them already."""
    now = now or timezone.now()
    settled_before = selectors._settled_params(since, now)["settled_before"]
    first_full = _day_of(since) + timedelta(days=1)
    if _midnight(_day_of(since)) == since:
        first_full = _day_of(since)
    today = _day_of(now)
    live = []  # (from, until): counted from the applications
    if since < _midnight(first_full):
        live.append((since, _midnight(first_full)))
    boundary = _day_of(settled_before)
    if first_full <= boundary <= today and _midnight(boundary) != settled_before:
        live.append((_midnight(boundary), _midnight(boundary + timedelta(days=1))))
    else:
        boundary = None
    refresh(first_full, current=current)

    sums: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0, 0, 0, Decimal("0")])
    calibration_counts: dict[tuple, int] = defaultdict(int)
    sql = f"""
    SELECT dimension, value, CASE WHEN dimension = %(calibration)s THEN day < %(settled_day)s END,
           SUM(submitted), SUM(viewed), SUM(replied), SUM(interview), SUM(hired), SUM(connects), SUM(openai)
    FROM {AnalyticsRollup._meta.db_table}
    WHERE day >= %(first)s AND day <> ALL(%(skip)s)
    GROUP BY 1, 2, 3
    """
    params = {
        "calibration": CALIBRATION,
        "settled_day": _day_of(settled_before),
        "first": first_full,
        "skip": [boundary] if boundary else [],
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()
    for dimension, value, before_line, *figures in result:
        if dimension == CALIBRATION:
            score, replied, settled, withdrawn = value.split("|")
            # Before the line every application but a withdrawn one is settled by its silence.
            if score != "-" and (settled == "1" or (before_line and withdrawn == "0")):
                calibration_counts[(int(score), replied == "1")] += figures[0]
            continue
        _add(sums, (dimension, value), [int(figures[0]), *map(int, figures[1:6]), Decimal(figures[6] or 0)])
    if live:  # one query for both slices
        start, until = live[0]
        cube, counts = selectors._cube(
            since=start, until=until, also=live[1] if len(live) > 1 else None, now=now, with_calibration=True
        )
        for row in cube:
            ((dimension, value),) = row.keys.items()
            figures = [row.submitted, row.viewed, row.replied, row.interview, row.hired, row.connects, row.openai]
            _add(sums, (dimension, value), figures)
        for score, replied, count in counts:
            calibration_counts[(score, bool(replied))] += count
    cube = [
        selectors.CubeRow(
            keys={dimension: value}, submitted=f[0], viewed=f[1], replied=f[2], interview=f[3], hired=f[4],
            connects=f[5], openai=f[6],
        )
        for (dimension, value), f in sums.items()
    ]  # fmt: skip
    if (TOTAL, "") not in sums:
        cube.append(selectors.CubeRow({TOTAL: ""}, 0, 0, 0, 0, 0, 0, Decimal("0")))
    counts = [(score, replied, count) for (score, replied), count in sorted(calibration_counts.items()) if count]
    return cube, counts


def _comparable(cube, counts) -> tuple[dict, dict]:
    rows = {
        next(iter(row.keys.items())): (
            row.submitted, row.viewed, row.replied, row.interview, row.hired, row.connects, row.openai,
        )
        for row in cube
    }  # fmt: skip
    scores: dict[tuple, int] = defaultdict(int)
    for score, replied, count in counts:
        scores[(score, bool(replied))] += count
    return rows, dict(scores)


def compare(*, days: int, now: datetime | None = None) -> list[tuple]:
    """The differences between the window's cube from the rollup and counted live: [] when they agree."""
    now = now or timezone.now()
    since = selectors.window_start(days, now)
    live = _comparable(*selectors._cube(since=since, now=now, with_calibration=True))
    rolled = _comparable(*rolled_cube(since=since, now=now))
    differences = []
    for index in (0, 1):
        for key in sorted(set(live[index]) | set(rolled[index]), key=str):
            if live[index].get(key) != rolled[index].get(key):
                differences.append((key, live[index].get(key), rolled[index].get(key)))
    return differences
