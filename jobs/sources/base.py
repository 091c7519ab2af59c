"""The source interface: a SearchSpec in, JobRecords out, the same for the API and the browser."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from decimal import Decimal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchSpec:
    """One search: a strategy's parameters. `label` names it in logs and results."""

    strategy: str
    query: str = ""
    skills: tuple[str, ...] = ()
    category: str = ""
    max_pages: int | None = None

    @property
    def label(self) -> str:
        parts = [self.query, ",".join(self.skills), self.category]
        return f"{self.strategy}:{' '.join(p for p in parts if p)}"


@dataclass
class JobRecord:
    """A job as a source saw it; None means the source did not say."""

    upwork_id: str
    url: str
    title: str
    description: str = ""
    job_type: str = ""
    budget: Decimal | None = None
    hourly_min: Decimal | None = None
    hourly_max: Decimal | None = None
    skills: list[str] = field(default_factory=list)
    screening_questions: list[str] = field(default_factory=list)
    category: str = ""
    experience_level: str = ""
    duration: str = ""
    workload: str = ""
    client_country: str = ""
    client_payment_verified: bool | None = None
    client_total_spent: Decimal | None = None
    client_hires: int | None = None
    client_rating: Decimal | None = None
    client_reviews: int | None = None
    proposals_tier: str = ""
    connects_required: int | None = None
    posted_at: datetime | None = None
    source: str = ""

    def model_fields(self) -> dict:
        return asdict(self)


@dataclass
class SearchResult:
    spec: SearchSpec
    records: list[JobRecord] = field(default_factory=list)
    pages: int = 0
    error: str = ""


def _known(value) -> bool:
    return value not in (None, "", [])


def merge_records(results: list[SearchResult]) -> list[JobRecord]:
    """De-duplicate by Upwork id across searches; a later sighting fills fields the earlier one lacked."""
    merged: dict[str, JobRecord] = {}
    for result in results:
        for record in result.records:
            existing = merged.get(record.upwork_id)
            if existing is None:
                merged[record.upwork_id] = JobRecord(**record.model_fields())
                continue
            for item in fields(JobRecord):
                if not _known(getattr(existing, item.name)) and _known(getattr(record, item.name)):
                    setattr(existing, item.name, getattr(record, item.name))
    return list(merged.values())


class JobSource:
    """A place to search. Subclasses implement search(); search_many() runs searches concurrently."""

    kind = ""

    def search(self, spec: SearchSpec) -> SearchResult:
        raise NotImplementedError

    def search_many(self, specs: list[SearchSpec], *, concurrency: int) -> list[SearchResult]:
        """Run searches with at most `concurrency` at once; a non-retryable error stops everything."""
        if not specs:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(specs)))) as pool:
            return list(pool.map(self.search, specs))

    def close(self) -> None:
        """Release what the source holds (HTTP connections, browsers)."""
