"""What the domain apps call: build an event's payload from their rows and publish it (services.publish)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from notifications.models import Event
from notifications.services.publish import notification_publish


def site_link(path: str) -> str:
    return settings.NOTIFY_SITE_URL.rstrip("/") + path


def _money(value) -> str:
    if value is None:
        return ""
    value = Decimal(value)
    return f"${value:,.0f}" if value == value.to_integral_value() else f"${value:,.2f}"


def budget_text(job) -> str:
    if job.job_type == "fixed" or (job.budget is not None and job.hourly_max is None):
        return f"Fixed {_money(job.budget)}" if job.budget is not None else "Fixed price"
    if job.hourly_min is not None or job.hourly_max is not None:
        low, high = _money(job.hourly_min), _money(job.hourly_max)
        return f"Hourly {low}-{high}" if low and high and low != high else f"Hourly {high or low}"
    return ""


def client_text(job) -> str:
    parts = []
    if job.client_payment_verified:
        parts.append("payment verified")
    elif job.client_payment_verified is False:
        parts.append("payment NOT verified")
    if job.client_total_spent is not None:
        parts.append(f"{_money(job.client_total_spent)} spent")
    if job.client_hires is not None:
        parts.append(f"{job.client_hires} hires")
    if job.client_rating is not None:
        parts.append(f"{job.client_rating}★" + (f" ({job.client_reviews} reviews)" if job.client_reviews else ""))
    if job.client_country:
        parts.append(job.client_country)
    return ", ".join(parts)


def ago(moment: datetime | None, *, now: datetime | None = None) -> str:
    if moment is None:
        return ""
    seconds = max(int(((now or timezone.now()) - moment).total_seconds()), 0)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def top_reasons(breakdown: dict, *, limit: int = 3) -> list[str]:
    """The score parts that earned the most points, as '<part> <points> pts: <reason>'."""
    parts = [(name, part) for name, part in (breakdown or {}).items() if isinstance(part, dict)]
    parts.sort(key=lambda item: -(item[1].get("points") or 0))
    return [f"{name} {part.get('points', 0):g} pts: {part.get('reason', '')}" for name, part in parts[:limit]]


def job_alert_payload(job, *, draft_ready: bool = False) -> dict:
    return {
        "job_id": job.pk,
        "upwork_id": job.upwork_id,
        "title": job.title,
        "score": job.score,
        "reasons": top_reasons(job.score_breakdown),
        "budget": budget_text(job),
        "client_summary": client_text(job),
        "client": {
            "country": job.client_country,
            "payment_verified": job.client_payment_verified,
            "total_spent": str(job.client_total_spent) if job.client_total_spent is not None else None,
            "hires": job.client_hires,
            "rating": str(job.client_rating) if job.client_rating is not None else None,
            "reviews": job.client_reviews,
        },
        "proposals": job.proposals_tier,
        "posted_at": job.posted_at.isoformat() if job.posted_at else None,
        "posted_ago": ago(job.posted_at),
        "profile": job.profile.name if job.profile_id else "",
        "url": job.url,
        "admin_url": site_link(reverse("admin:jobs_job_change", args=[job.pk])),
        "draft_ready": draft_ready,
    }


def notify_job_alert(job, *, draft_ready: bool = False, urgent: bool = False) -> list[int]:
    """Publish job_alert (key job:<id>: one per channel, ever) when the job passed its profile's filters and its
    score reaches the profile's alert_threshold; returns the new delivery ids ([] when below or already sent)."""
    profile = job.profile
    threshold = getattr(profile, "alert_threshold", None) if profile is not None else None
    if threshold is None or job.score is None or not job.passed_filters or job.score < threshold:
        return []
    return notification_publish(
        event=Event.JOB_ALERT,
        key=f"job:{job.pk}",
        subject=f"{job.score}/100 · {job.title}",
        payload=job_alert_payload(job, draft_ready=draft_ready),
        score=job.score,
        urgent=urgent,
    )


def notify_job_alerts(*, job_ids: list[int]) -> int:
    """notify_job_alert for each of these jobs; returns how many deliveries were created."""
    from jobs.models import Job

    created = 0
    for job in Job.objects.filter(pk__in=job_ids, passed_filters=True).select_related("profile").order_by("-score"):
        created += len(notify_job_alert(job))
    return created


def notify_draft_ready(proposal) -> list[int]:
    """A proposal reached review: one message per version, so a redone draft is announced again."""
    job = proposal.job
    return notification_publish(
        event=Event.DRAFT_READY,
        key=f"draft:{proposal.pk}:v{proposal.current_version}",
        subject=f"Draft ready for review: {job.title}",
        payload={
            "proposal_id": proposal.pk,
            "job_id": job.pk,
            "facts": [
                ("Score", f"{job.score}/100" if job.score is not None else "—"),
                ("Version", str(proposal.current_version)),
                ("Budget", budget_text(job)),
            ],
            "links": [
                ("Review in the admin", site_link(reverse("admin:proposals_proposal_change", args=[proposal.pk]))),
                ("Job on Upwork", job.url),
            ],
        },
        score=None,
    )


APPLICATION_EVENTS = {
    "needs_attention": (Event.APPLICATION_ATTENTION, "Application needs attention", False),
    "submitted": (Event.APPLICATION_SUBMITTED, "Application submitted", False),
    "verification_failed": (Event.APPLICATION_VERIFICATION_FAILED, "Application failed verification", False),
}


def notify_application(application, *, what: str) -> list[int]:
    """what: needs_attention, submitted or verification_failed. Keyed per application, what and attempt."""
    event, label, urgent = APPLICATION_EVENTS[what]
    job = application.job
    facts = [("Job", job.title), ("Status", application.get_status_display())]
    if application.bid_amount is not None:
        facts.append(("Bid", _money(application.bid_amount)))
    if application.confirmation_reference:
        facts.append(("Reference", application.confirmation_reference))
    lines = [application.error] if application.error and what != "submitted" else []
    admin_link = site_link(reverse("admin:applications_application_change", args=[application.pk]))
    return notification_publish(
        event=event,
        key=f"application:{application.pk}:{what}:{application.attempts}",
        subject=f"{label}: {job.title}",
        payload={
            "application_id": application.pk,
            "job_id": job.pk,
            "facts": facts,
            "lines": lines,
            "links": [
                ("Open in the admin", admin_link),
                ("Job on Upwork", job.url),
            ],
        },
        urgent=urgent,
    )
