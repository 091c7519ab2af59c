"""Searches from several strategies merge by Upwork id; jobs seen again are updated, never duplicated."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jobs import services
from jobs.models import Job, JobStatus, SearchProfile
from jobs.sources.base import JobRecord, SearchResult, SearchSpec, merge_records

pytestmark = pytest.mark.django_db


def test_merge_keeps_one_record_per_id_and_fills_missing_fields():
    first = SearchResult(
        spec=SearchSpec(strategy="keywords", query="django"),
        records=[JobRecord(upwork_id="~01a", url="u", title="A"), JobRecord(upwork_id="~01b", url="u", title="B")],
    )
    second = SearchResult(
        spec=SearchSpec(strategy="skills", skills=("Django",)),
        records=[JobRecord(upwork_id="~01a", url="u", title="A", client_hires=5, skills=["Django"])],
    )
    merged = {record.upwork_id: record for record in merge_records([first, second])}
    assert sorted(merged) == ["~01a", "~01b"]
    assert merged["~01a"].client_hires == 5 and merged["~01a"].skills == ["Django"]


def test_overlapping_strategies_store_each_job_once(sandbox, api_token):
    specs = [
        SearchSpec(strategy="keywords", query="python"),
        SearchSpec(strategy="skills", skills=("Django", "Redis")),
        SearchSpec(strategy="keywords", query="django"),
    ]
    run = services.search_run(specs=specs, source="api")
    expected = {
        j.ciphertext
        for j in sandbox.state.jobs
        if "python" in (j.title + j.description + " ".join(j.skills)).lower() or {"Django", "Redis"} & set(j.skills)
    }
    assert run.found > len(run.records)  # the searches overlapped
    assert {r.upwork_id for r in run.records} == expected
    services.jobs_upsert(records=run.records)
    assert Job.objects.count() == len(expected)


def test_a_job_seen_again_is_updated_and_keeps_its_status():
    profile = SearchProfile.objects.create(name="p")
    record = JobRecord(upwork_id="~01x", url="https://www.upwork.com/jobs/~01x", title="Old", client_hires=1)
    created = services.jobs_upsert(records=[record], profile=profile)
    job = Job.objects.get()
    services.job_reject(job_id=job.id)
    again = JobRecord(upwork_id="~01x", url=record.url, title="New title", client_hires=4, budget=Decimal("900"))
    updated = services.jobs_upsert(records=[again])
    job.refresh_from_db()
    assert created.created == [job.id] and updated.updated == [job.id] and not updated.created
    assert (job.title, job.client_hires, job.budget, job.times_seen) == ("New title", 4, Decimal("900"), 2)
    assert job.status == JobStatus.REJECTED
    assert job.profile == profile


def test_unknown_fields_in_a_later_sighting_do_not_erase_known_ones():
    services.jobs_upsert(records=[JobRecord(upwork_id="~01y", url="u", title="T", client_country="Germany")])
    services.jobs_upsert(records=[JobRecord(upwork_id="~01y", url="u", title="T", client_country="")])
    assert Job.objects.get().client_country == "Germany"
