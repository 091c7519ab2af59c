"""Search sources behind one interface: Upwork's GraphQL API and a Playwright browser session."""

from jobs.sources.base import JobRecord, JobSource, SearchResult, SearchSpec, merge_records

__all__ = ["JobRecord", "JobSource", "SearchResult", "SearchSpec", "merge_records"]
