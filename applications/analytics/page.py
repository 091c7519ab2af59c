"""The admin analytics page: funnel, rates, spend and the score's calibration, charts drawn as server-side SVG
like the queue dashboard (queue_app/dashboard.py). Staff with applications.view_application may read it;
applying or reverting a calibration suggestion is a POST that needs jobs.change_searchprofile."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from applications.analytics import background, selectors, services
from applications.analytics.views import csv_response
from core.actor import Actor
from core.errors import ApplicationError
from jobs.models import ProfileTuning
from jobs.scoring import SCORE_PARTS
from queue_app.dashboard import HEIGHT, PAD_BOTTOM, PAD_LEFT, PAD_RIGHT, PAD_TOP, WIDTH, _nice_max

VIEW_PERMISSION = "applications.view_application"
APPLY_PERMISSION = "jobs.change_searchprofile"
DAY_CHOICES = (7, 30, 90, 365)
COLORS = {"count": "#417690", "rate": "#3a9a5b", "interval": "#1f2d3a"}


def _label_text(text: str, limit: int = 12) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def category_chart(
    chart_id: str, title: str, labels: list[str], values: list[float | None], *, series: str, percent: bool = False,
    intervals: list[tuple[float | None, float | None]] | None = None,
) -> SafeString:  # fmt: skip
    """One bar per category (data-value on each bar, a <title> tooltip), with optional interval whiskers."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    shown = [v or 0 for v in values] + [high or 0 for _, high in intervals or []]
    top = 1.0 if percent and max(shown, default=0) > 0.5 else _nice_max(max(shown, default=0) * (100 if percent else 1))
    if percent and top != 1.0:
        top = top / 100
    step = plot_w / max(len(labels), 1)
    parts = []
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        value = top * fraction
        text = f"{value * 100:.0f}%" if percent else (f"{value:.0f}" if value == int(value) else f"{value:.1f}")
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'
        )
    color = COLORS[series]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = PAD_LEFT + step * index
        parts.append(
            f'<text class="tick" x="{x + step / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
            f"{escape(_label_text(label, max(int(step / 6.5), 4)))}</text>"
        )
        if value is None:
            continue
        shown_value = f"{value * 100:.1f}%" if percent else f"{value:g}"
        height = plot_h * value / top if top else 0
        parts.append(
            f'<rect class="bar {series}" x="{x + step * 0.15:.2f}" y="{PAD_TOP + plot_h - height:.2f}" '
            f'width="{step * 0.7:.2f}" height="{height:.2f}" fill="{color}" data-series="{series}" '
            f'data-label="{escape(label)}" data-value="{value:g}"><title>{escape(label)}: {shown_value}</title></rect>'
        )
        if intervals and intervals[index][0] is not None:
            low, high = intervals[index]
            y_low, y_high = PAD_TOP + plot_h * (1 - low / top), PAD_TOP + plot_h * (1 - high / top)
            mid = x + step / 2
            parts.append(
                f'<path class="interval" d="M{mid:.1f},{y_low:.1f}V{y_high:.1f}M{mid - 4:.1f},{y_low:.1f}h8'
                f'M{mid - 4:.1f},{y_high:.1f}h8" stroke="{COLORS["interval"]}" stroke-width="1.2" fill="none">'
                f"<title>{escape(label)}: 95% interval {low * 100:.1f}-{high * 100:.1f}%</title></path>"
            )
    total = sum(v or 0 for v in values)
    return mark_safe(  # noqa: S308 -- every interpolated text above is escaped or numeric
        f'<figure class="chart" id="{escape(chart_id)}" data-total="{total:g}">'
        f"<figcaption>{escape(title)}</figcaption>"
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{escape(title)}" '
        f'preserveAspectRatio="xMidYMid meet">{"".join(parts)}</svg></figure>'
    )


def _days(request: HttpRequest, default: int) -> int:
    try:
        days = int(request.GET.get("days", default))
    except ValueError:
        return default
    return days if 1 <= days <= 3650 else default


def _charts(data: dict) -> list[SafeString]:
    funnel = data["funnel"]
    calibration = data["calibration"]
    score = data["rates"]["score_band"]["rows"][::-1]
    speed = data["rates"]["time_to_apply"]["rows"]
    return [
        category_chart(
            "chart-funnel", "Funnel: jobs discovered to hired", [row["stage"] for row in funnel],
            [row["count"] for row in funnel], series="count",
        ),
        category_chart(
            "chart-calibration", "Reply rate per score decile (95% Wilson interval)",
            [row["band"] for row in calibration["deciles"]], [row["rate"] for row in calibration["deciles"]],
            series="rate", percent=True,
            intervals=[(row["ci_low"], row["ci_high"]) for row in calibration["deciles"]],
        ),
        category_chart(
            "chart-score-band", "Reply rate by score band", [row["label"] for row in score],
            [row["reply_rate"] for row in score], series="rate", percent=True,
        ),
        category_chart(
            "chart-time-to-apply", "Reply rate by time to apply", [row["label"] for row in speed],
            [row["reply_rate"] for row in speed], series="rate", percent=True,
        ),
    ]  # fmt: skip


def _cards(data: dict) -> list[dict]:
    totals, calibration = data["totals"], data["calibration"]

    def pct(value):
        return "—" if value is None else f"{value * 100:.1f}%"

    def num(value, digits=1):
        return "—" if value is None else f"{value:,.{digits}f}"

    return [
        {"id": "submitted", "label": "Proposals sent", "value": totals["submitted"]},
        {"id": "replied", "label": "Client replied", "value": totals["replied"]},
        {"id": "reply-rate", "label": "Reply rate", "value": pct(totals["reply_rate"])},
        {"id": "hired", "label": "Hired", "value": totals["hired"]},
        {"id": "connects-per-reply", "label": "Connects per reply", "value": num(totals["connects_per_reply"])},
        {"id": "openai-per-reply", "label": "OpenAI $ per reply", "value": num(totals["openai_per_reply"], 4)},
        {"id": "auc", "label": "Score AUC (replies)", "value": num(calibration["auc"], 3)},
    ]


def analytics_page(request: HttpRequest, *, site=None) -> HttpResponse:
    """GET /admin/analytics/ (staff; admin_view in the URLconf) and ?tab=calibration for the suggestions."""
    from django.contrib import admin

    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied(f"This needs the {VIEW_PERMISSION} permission.")
    site = site or admin.site
    tab = "calibration" if request.GET.get("tab") == "calibration" else "overview"
    context = {
        **site.each_context(request),
        "title": "Outcomes analytics",
        "tab": tab,
        "day_choices": DAY_CHOICES,
        "parts": SCORE_PARTS,
        "can_apply": request.user.has_perm(APPLY_PERMISSION),
        "generated_at": timezone.now(),
        "is_nav_sidebar_enabled": False,  # the charts need the width
    }
    if tab == "overview":
        days = _days(request, selectors.DEFAULT_DAYS)
        data = selectors.overview(days=days)
        context.update(
            days=days,
            data=data,
            charts=_charts(data),
            cards=_cards(data),
            overview_cache_seconds=settings.ANALYTICS_OVERVIEW_CACHE_SECONDS,
        )
    else:
        days = _days(request, settings.ANALYTICS_CALIBRATION_DAYS)
        report = background.calibration_stored(days)  # never fitted here: the analytics_refresh task does it
        for item in report["profiles"]:
            suggestion = item["suggestion"]
            item["weight_rows"] = [
                {
                    "part": part,
                    "current": suggestion["current_weights"].get(part),
                    "suggested": suggestion["weights"].get(part),
                    "evidence": next((e for e in item["evidence"] if e["part"] == part), None),
                }
                for part in SCORE_PARTS
            ]
        history = list(ProfileTuning.objects.select_related("profile", "applied_by", "reverted_by")[:50])
        latest = {}
        for tuning in history:
            if tuning.status == "applied":
                latest.setdefault(tuning.profile_id, tuning.id)
        for tuning in history:
            tuning.revertible = latest.get(tuning.profile_id) == tuning.id
        context.update(days=days, report=report, history=history)
    return TemplateResponse(request, "admin/console/analytics.html", context)


def analytics_export(request: HttpRequest) -> HttpResponse:
    """GET /admin/analytics/export.csv?days=N: the sent applications of the window as CSV."""
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied(f"This needs the {VIEW_PERMISSION} permission.")
    return csv_response(_days(request, selectors.DEFAULT_DAYS))


def _post_days(request: HttpRequest) -> int:
    try:
        days = int(request.POST.get("days", settings.ANALYTICS_CALIBRATION_DAYS))
    except ValueError:
        return settings.ANALYTICS_CALIBRATION_DAYS
    return days if 1 <= days <= 3650 else settings.ANALYTICS_CALIBRATION_DAYS


@require_POST
def calibration_action(request: HttpRequest, name: str) -> HttpResponse:
    """POST /admin/analytics/calibration/apply|revert|recompute/: a person's click, audited by the service."""
    needed = APPLY_PERMISSION  # a recompute queues seconds of work: those who may apply a suggestion
    if not request.user.has_perm(needed):
        raise PermissionDenied(f"This needs the {needed} permission.")
    who = {"actor": Actor.admin(request)}
    back = reverse("console-analytics") + "?tab=calibration"
    try:
        if name == "recompute":
            days = _post_days(request)
            task = background.calibration_request(days, **who)
            messages.success(request, f"The calibration of the last {days} days is being recomputed (task {task.id}).")
            back += f"&days={days}"
        elif name == "apply":
            tuning = services.calibration_apply(profile_id=int(request.POST.get("profile_id", "0")), **who)
            messages.success(
                request,
                f"Applied to '{tuning.profile.name}': threshold {tuning.previous_threshold} → {tuning.threshold}, "
                f"weights {tuning.weights}. Revert it below if it does worse.",
            )
        elif name == "revert":
            tuning = services.calibration_revert(tuning_id=int(request.POST.get("tuning_id", "0")), **who)
            messages.success(
                request,
                f"Reverted '{tuning.profile.name}' to threshold {tuning.previous_threshold} and its previous weights.",
            )
        else:
            messages.error(request, f"Unknown action “{name}”.")
    except ValueError:
        messages.error(request, "The form sent no valid id.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return HttpResponseRedirect(back)
