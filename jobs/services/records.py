"""Jobs: storing what a search found, scoring it, moving a job through its statuses."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import InvalidTransition, NotFound, ValidationFailed
from jobs import scoring
from jobs.models import (
    Job,
    JobStatus,
    SearchProfile,
)
from jobs.sources.base import JobRecord, SearchResult, SearchSpec, merge_records
from upwork_automation.weblinks import is_http_url

logger = logging.getLogger(__name__)

# Fields a later sighting may overwrite (when the source knew them).
RECORD_FIELDS = [name for name in JobRecord.__dataclass_fields__ if name not in ("upwork_id", "source")]


@dataclass
class UpsertOutcome:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)

    @property
    def job_ids(self) -> list[int]:
        return self.created + self.updated


def _known(value: Any) -> bool:
    return value not in (None, "", [])


def jobs_upsert(*, records: list[JobRecord], profile: SearchProfile | None = None) -> UpsertOutcome:
    """Store records by Upwork id: new ones are created; jobs seen before get fresher fields and a sighting.

    A job's status is never changed here: a rejected job stays rejected when it shows up again.
    """
    records = merge_records([SearchResult(spec=SearchSpec(strategy="store"), records=records)])
    for record in records:
        if record.url and not is_http_url(record.url):
            # Rendered as a link in the admin and the API: only http(s) is kept.
            logger.warning("Job %s came with a non-http(s) URL; it is not stored.", record.upwork_id)
            record.url = ""
    outcome = UpsertOutcome()
    if not records:
        return outcome
    now = timezone.now()
    with transaction.atomic():
        existing = {
            job.upwork_id: job
            for job in Job.objects.select_for_update().filter(upwork_id__in=[r.upwork_id for r in records])
        }
        new_jobs = []
        for record in records:
            job = existing.get(record.upwork_id)
            if job is None:
                values = {name: getattr(record, name) for name in RECORD_FIELDS if _known(getattr(record, name))}
                new_jobs.append(
                    Job(
                        upwork_id=record.upwork_id,
                        source=record.source,
                        profile=profile,
                        discovered_at=now,
                        last_seen_at=now,
                        **values,
                    )
                )
                continue
            changed = ["last_seen_at", "times_seen"]
            for name in RECORD_FIELDS:
                value = getattr(record, name)
                if _known(value) and getattr(job, name) != value:
                    setattr(job, name, value)
                    changed.append(name)
            if profile is not None and job.profile_id is None:
                job.profile = profile
                changed.append("profile")
            job.last_seen_at = now
            job.times_seen = F("times_seen") + 1
            job.save(update_fields=changed)
            outcome.updated.append(job.id)
        # A concurrent run may insert the same new job first; its row is then the job.
        Job.objects.bulk_create(new_jobs, ignore_conflicts=True)
        created_ids = Job.objects.filter(upwork_id__in=[j.upwork_id for j in new_jobs], discovered_at=now)
        outcome.created = list(created_ids.values_list("id", flat=True))
    return outcome


def jobs_evaluate(
    *, profile: SearchProfile, job_ids: list[int] | None = None, statuses: list[str] | None = None
) -> dict:
    """Apply the profile's filters and score to jobs (given ids, else the profile's open jobs); store the results."""
    now = timezone.now()
    queryset = Job.objects.all()
    if job_ids is not None:
        queryset = queryset.filter(id__in=job_ids)
    else:
        queryset = queryset.filter(profile=profile, status__in=statuses or [JobStatus.NEW, JobStatus.SHORTLISTED])
    counts = {"evaluated": 0, "passed": 0, "filtered_out": 0}
    with transaction.atomic():
        jobs = list(queryset.select_for_update())
        for job in jobs:
            evaluation = scoring.evaluate(job, profile, now=now)
            job.passed_filters = evaluation.passed
            job.filter_reasons = evaluation.reasons
            job.score = evaluation.score
            job.score_breakdown = evaluation.breakdown
            job.scored_at = now
            job.profile = profile
            counts["evaluated"] += 1
            counts["passed" if evaluation.passed else "filtered_out"] += 1
        Job.objects.bulk_update(
            jobs, ["passed_filters", "filter_reasons", "score", "score_breakdown", "scored_at", "profile"]
        )
    return counts


_TRANSITIONS = {
    JobStatus.SHORTLISTED: (JobStatus.NEW, JobStatus.REJECTED),
    JobStatus.REJECTED: (JobStatus.NEW, JobStatus.SHORTLISTED),
    JobStatus.PROPOSAL_DRAFTED: (JobStatus.NEW, JobStatus.SHORTLISTED),
    JobStatus.APPLIED: (JobStatus.NEW, JobStatus.SHORTLISTED, JobStatus.PROPOSAL_DRAFTED),
    JobStatus.ARCHIVED: (JobStatus.NEW, JobStatus.SHORTLISTED, JobStatus.REJECTED, JobStatus.PROPOSAL_DRAFTED),
}


def job_transition(*, job_id: int, to_status: str) -> Job:
    """Move a job to `to_status` with one conditional UPDATE; refuse moves the workflow does not allow."""
    allowed_from = _TRANSITIONS.get(JobStatus(to_status)) if to_status in JobStatus.values else None
    if allowed_from is None:
        raise ValidationFailed(f"Unknown target status '{to_status}'.", field_errors={"status": ["Invalid."]})
    updated = Job.objects.filter(id=job_id, status__in=allowed_from).update(
        status=to_status, status_changed_at=timezone.now()
    )
    job = Job.objects.filter(id=job_id).first()
    if job is None:
        raise NotFound(f"No job with id {job_id}.")
    if not updated and job.status != to_status:
        raise InvalidTransition(
            f"Job {job_id} is {job.status}; it can become {to_status} only from "
            f"{', '.join(str(s) for s in allowed_from)}."
        )
    return job


def job_shortlist(*, job_id: int) -> Job:
    return job_transition(job_id=job_id, to_status=JobStatus.SHORTLISTED)


def job_reject(*, job_id: int) -> Job:
    return job_transition(job_id=job_id, to_status=JobStatus.REJECTED)


def job_mark_proposal_drafted(*, job_id: int) -> Job:
    return job_transition(job_id=job_id, to_status=JobStatus.PROPOSAL_DRAFTED)


def job_mark_applied(*, job_id: int) -> Job:
    return job_transition(job_id=job_id, to_status=JobStatus.APPLIED)


def job_archive(*, job_id: int) -> Job:
    return job_transition(job_id=job_id, to_status=JobStatus.ARCHIVED)
