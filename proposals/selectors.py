"""Reads of the proposals app, with their joins done."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from jobs.models import Job, JobStatus
from proposals.models import Attachment, FreelancerProfile, OpenAICostReservation, Proposal, ProposalVersion

# A reservation older than this belongs to a call whose process died before releasing it: it stops counting.
# Longer than any call can take (OPENAI_TIMEOUT, 60 s by default, with no client retries).
COST_RESERVATION_TTL = timedelta(minutes=10)


def proposal_list() -> QuerySet[Proposal]:
    return Proposal.objects.select_related("job", "profile", "approved_version", "reviewed_by").prefetch_related(
        "chosen_attachments__attachment"
    )


def proposal_current_version(proposal: Proposal) -> ProposalVersion | None:
    if not proposal.current_version:
        return None
    return ProposalVersion.objects.filter(proposal=proposal, number=proposal.current_version).first()


def profile_for(profile_id: int | None) -> FreelancerProfile | None:
    """The named profile; else the default one; else the only one there is."""
    if profile_id is not None:
        return FreelancerProfile.objects.filter(id=profile_id).first()
    default = FreelancerProfile.objects.filter(is_default=True).first()
    if default is not None:
        return default
    profiles = list(FreelancerProfile.objects.all()[:2])
    return profiles[0] if len(profiles) == 1 else None


def active_attachments() -> QuerySet[Attachment]:
    return Attachment.objects.filter(active=True).order_by("id")


def day_start(now: datetime | None = None) -> datetime:
    now = timezone.localtime(now or timezone.now())
    return timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)


def openai_spent_today(now: datetime | None = None) -> Decimal:
    """Estimated OpenAI spend since local midnight (TIME_ZONE), from the versions written today."""
    total = ProposalVersion.objects.filter(created_at__gte=day_start(now), estimated_cost__gt=0).aggregate(
        total=Sum("estimated_cost")
    )["total"]
    return total or Decimal("0")


def openai_reserved_today(now: datetime | None = None) -> Decimal:
    """USD reserved by OpenAI calls in flight (made today, younger than COST_RESERVATION_TTL)."""
    now = now or timezone.now()
    cutoff = max(day_start(now), now - COST_RESERVATION_TTL)
    total = OpenAICostReservation.objects.filter(created_at__gte=cutoff).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0")


def average_generation_cost(sample: int = 20) -> Decimal:
    """The mean estimated cost of the last `sample` OpenAI versions (0 when there are none yet)."""
    costs = list(
        ProposalVersion.objects.filter(source="openai", estimated_cost__gt=0)
        .order_by("-created_at")
        .values_list("estimated_cost", flat=True)[:sample]
    )
    return sum(costs, Decimal("0")) / len(costs) if costs else Decimal("0")


def jobs_needing_proposals(*, min_score: int, job_ids: list[int] | None = None) -> QuerySet[Job]:
    """Shortlisted jobs, or new jobs that passed the filters with at least `min_score`, that have no proposal text.

    Best score first.
    """
    has_proposal = Proposal.objects.filter(job=OuterRef("pk"), current_version__gt=0)
    queryset = Job.objects.filter(
        Q(status=JobStatus.SHORTLISTED) | Q(status=JobStatus.NEW, passed_filters=True, score__gte=min_score)
    ).filter(~Exists(has_proposal))
    if job_ids is not None:
        queryset = queryset.filter(id__in=job_ids)
    # "shortlisted" sorts after "new": shortlisted jobs go first.
    return queryset.order_by("-status", F("score").desc(nulls_last=True), "id")
