"""Admin queue dashboard: stats and health at a glance, hourly charts drawn as server-side SVG."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from queue_app import health, metrics, selectors
from queue_app.metrics import hourly_series

WIDTH, HEIGHT = 520, 170
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 42, 10, 12, 24
COLORS = {"completed": "#3a9a5b", "failed": "#d9534f", "queue_depth": "#417690"}
RANGES = {"24h": 24, "7d": 168}


@dataclass
class Series:
    name: str
    label: str
    values: list[float]


def _nice_max(value: float) -> float:
    """A round axis maximum at or above value (1, 2, 5 x 10^n)."""
    if value <= 2:
        return 2  # counts: ticks 0, 1, 2 rather than fractions
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _axis(hours: list[datetime], top: float, label_every: int, day_labels: bool) -> list[str]:
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    parts = []
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        value = top * fraction
        text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'
        )
    step = plot_w / max(len(hours), 1)
    for index, hour in enumerate(hours):
        if index % label_every:
            continue
        x = PAD_LEFT + step * index + step / 2
        text = hour.strftime("%a %d") if day_labels else hour.strftime("%H:00")
        parts.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{text}</text>')
    return parts


def bar_chart(
    chart_id: str, title: str, hours: list[datetime], series: list[Series], day_labels: bool, period: str = ""
) -> SafeString:
    """Stacked bars, one per hour; each bar carries its value in data-value and a <title> tooltip."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    totals = [sum(s.values[i] for s in series) for i in range(len(hours))]
    top = _nice_max(max(totals, default=0))
    step = plot_w / max(len(hours), 1)
    gap = 1 if step > 4 else 0.2
    parts = _axis(hours, top, label_every=4 if len(hours) <= 24 else 24, day_labels=day_labels)
    for index, hour in enumerate(hours):
        base = 0.0
        for item in series:
            value = item.values[index]
            if value <= 0:
                continue
            height = plot_h * value / top
            y = PAD_TOP + plot_h * (1 - (base + value) / top)
            parts.append(
                f'<rect class="bar {item.name}" x="{PAD_LEFT + step * index + gap / 2:.2f}" y="{y:.2f}" '
                f'width="{max(step - gap, 0.5):.2f}" height="{height:.2f}" fill="{COLORS[item.name]}" '
                f'data-series="{item.name}" data-value="{value:g}" data-hour="{hour.isoformat()}">'
                f"<title>{hour:%a %d %b %H:00} UTC: {value:g} {escape(item.label)}</title></rect>"
            )
            base += value
    return _svg(chart_id, title, parts, series, period)


def line_chart(
    chart_id: str, title: str, hours: list[datetime], item: Series, day_labels: bool, period: str = ""
) -> SafeString:
    """An area under a line, with a point (data-value) per hour."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    top = _nice_max(max(item.values, default=0))
    step = plot_w / max(len(hours), 1)
    points = [
        (PAD_LEFT + step * index + step / 2, PAD_TOP + plot_h * (1 - value / top))
        for index, value in enumerate(item.values)
    ]
    parts = _axis(hours, top, label_every=4 if len(hours) <= 24 else 24, day_labels=day_labels)
    if points:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        bottom = PAD_TOP + plot_h
        area = f"{points[0][0]:.1f},{bottom} {line} {points[-1][0]:.1f},{bottom}"
        color = COLORS[item.name]
        parts.append(f'<polygon class="area" points="{area}" fill="{color}" fill-opacity="0.15"/>')
        parts.append(f'<polyline class="line" points="{line}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        radius = 2.2 if len(points) <= 24 else 0.9
        for (x, y), hour, value in zip(points, hours, item.values, strict=True):
            parts.append(
                f'<circle class="point {item.name}" cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{color}" '
                f'data-series="{item.name}" data-value="{value:g}" data-hour="{hour.isoformat()}">'
                f"<title>{hour:%a %d %b %H:00} UTC: {value:g} {escape(item.label)}</title></circle>"
            )
    return _svg(chart_id, title, parts, [item], period)


def _svg(chart_id: str, title: str, parts: list[str], series: list[Series], period: str) -> SafeString:
    legend = "".join(
        f'<span class="legend-item"><i style="background:{COLORS[s.name]}"></i>{escape(s.label)}</span>' for s in series
    )
    total = sum(sum(s.values) for s in series)
    return mark_safe(  # noqa: S308 -- every interpolated text above is escaped or numeric
        f'<figure class="chart" id="{escape(chart_id)}" data-total="{total:g}">'
        f"<figcaption>{escape(title)}<span class='legend'>{legend}</span></figcaption>"
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{escape(f"{title}, {period}")}" '
        f'preserveAspectRatio="xMidYMid meet">{"".join(parts)}</svg></figure>'
    )


def _charts(task_type: str | None) -> dict[str, list[SafeString]]:
    week = hourly_series(hours=RANGES["7d"], task_type=task_type)
    charts = {}
    for key, hours_count in RANGES.items():
        window = week[-hours_count:]
        hours = [bucket.bucket_start for bucket in window]
        completed = Series("completed", "completed", [b.completed for b in window])
        failed = Series("failed", "failed", [b.failed for b in window])
        depth = Series("queue_depth", "waiting at hour end", [b.queue_depth for b in window])
        day_labels = key == "7d"
        label = "last 24 hours" if key == "24h" else "last 7 days"
        charts[key] = [
            bar_chart(f"throughput-{key}", "Tasks finished per hour", hours, [completed, failed], day_labels, label),
            bar_chart(f"failures-{key}", "Failures per hour", hours, [failed], day_labels, label),
            line_chart(f"depth-{key}", "Queue depth", hours, depth, day_labels, label),
        ]
    return charts


def queue_dashboard(request: HttpRequest, *, site=None) -> HttpResponse:
    """GET /admin/queue/dashboard/?task_type=X (staff only; wrapped in admin_view in the URLconf)."""
    from django.contrib import admin

    site = site or admin.site
    task_types = selectors.known_task_types()
    task_type = request.GET.get("task_type") or None
    if task_type not in task_types:
        task_type = None
    stats = selectors.queue_stats()
    report = health.queue_health()
    performance = selectors.type_performance(hours=24)
    context = {
        **site.each_context(request),
        "title": "Queue dashboard",
        "stats": stats,
        "health": report,
        "performance": sorted(performance.items()),
        "workers": _with_process_details(selectors.worker_performance(hours=24)),
        "task_types": task_types,
        "task_type": task_type,
        "charts": _charts(task_type),
        "cards": _cards(stats, report),
        "covered_until": metrics.covered_until(),
        "generated_at": timezone.now(),
        "is_nav_sidebar_enabled": False,  # the charts need the width
    }
    return TemplateResponse(request, "admin/queue_dashboard.html", context)


def _cards(stats: dict, report: dict) -> list[dict]:
    oldest = stats["oldest_waiting"]
    status = stats["by_status"]
    cards = [
        {"id": "waiting", "label": "Waiting to start", "value": stats["waiting"]},
        {"id": "processing", "label": "Running", "value": status["processing"]},
        {"id": "completed-hour", "label": "Completed, last hour", "value": stats["last_hour"]["completed"]},
        {"id": "failed-hour", "label": "Failed, last hour", "value": stats["last_hour"]["failed"], "bad": True},
        {"id": "completed-day", "label": "Completed, last day", "value": stats["last_day"]["completed"]},
        {"id": "failed-day", "label": "Failed, last day", "value": stats["last_day"]["failed"], "bad": True},
        {"id": "workers", "label": "Live workers", "value": len(stats["workers"])},
        {
            "id": "oldest",
            "label": "Oldest waiting",
            "value": _age(oldest["age_seconds"]) if oldest else "—",
        },
    ]
    for card in cards:
        # Failures are bad when there are any; workers when there are none.
        card["bad"] = bool(card["value"]) if card.get("bad") else card["id"] == "workers" and not card["value"]
    return cards


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


__all__ = ["bar_chart", "line_chart", "queue_dashboard"]


def _with_process_details(workers: list[dict]) -> list[dict]:
    """Add each worker's host, pid, families, RSS, CPU and uptime from its PostgreSQL heartbeat."""
    from queue_app.worker_status import workers_snapshot

    details = {row["name"]: row for row in workers_snapshot(include_stopped=True)}
    return [{**worker, "process": details.get(worker.get("name"))} for worker in workers]
