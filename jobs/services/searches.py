"""Running searches: open a source, store what it finds, hand the best jobs to proposals."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from jobs import selectors
from jobs.errors import ApiAuthError, NeedsAttention, NoUsableSession, SourceError
from jobs.models import (
    BrowserSession,
    SearchProfile,
    SourceKind,
    Strategy,
)
from jobs.services.oauth import oauth_token_mark_needs_reauth, oauth_token_store
from jobs.services.records import jobs_evaluate, jobs_upsert
from jobs.services.sessions import browser_session_mark_attention
from jobs.sources.base import JobRecord, JobSource, SearchSpec, merge_records
from queue_app.errors import NotFound, ValidationFailed

logger = logging.getLogger(__name__)


def specs_for_profile(profile: SearchProfile) -> list[SearchSpec]:
    """Each enabled strategy becomes one or more searches."""
    specs: list[SearchSpec] = []
    strategies = profile.strategies or []
    if Strategy.KEYWORDS in strategies:
        specs += [SearchSpec(strategy=Strategy.KEYWORDS, query=k) for k in profile.keywords or [] if k]
    if Strategy.SKILLS in strategies and profile.skills:
        specs.append(SearchSpec(strategy=Strategy.SKILLS, skills=tuple(profile.skills)))
    if Strategy.SAVED_SEARCHES in strategies:
        specs += [SearchSpec(strategy=Strategy.SAVED_SEARCHES, query=q) for q in profile.saved_searches or [] if q]
    if Strategy.CATEGORIES in strategies:
        specs += [SearchSpec(strategy=Strategy.CATEGORIES, category=c) for c in profile.categories or [] if c]
    return specs


@dataclass
class _OpenSource:
    source: JobSource
    kind: str
    session_id: int | None = None
    account: str = ""


def _open_source(kind: str) -> _OpenSource:
    from jobs.sources.browser import BrowserSource
    from jobs.sources.upwork_api import TokenSet, UpworkApiSource, UpworkGraphQLClient

    if kind == SourceKind.AUTO:
        token = selectors.oauth_token_active()
        kind = SourceKind.API if token is not None and settings.UPWORK_CLIENT_ID else SourceKind.BROWSER
    if kind == SourceKind.API:
        token = selectors.oauth_token_active()
        if token is None:
            raise NoUsableSession("The Upwork API is not connected; run `manage.py jobs upwork-connect` first.")
        tokens = TokenSet(
            access_token=token.access_token,
            refresh_token=token.refresh_token,
            expires_at=token.expires_at,
            token_type=token.token_type,
            scope=token.scope,
        )
        return _OpenSource(UpworkApiSource(UpworkGraphQLClient(tokens=tokens)), SourceKind.API, account=token.account)
    session = selectors.browser_session_usable()
    if session is None:
        raise NoUsableSession(
            "No active browser session: import one with `manage.py jobs import-session --file state.json`, "
            "or fix the one that needs attention."
        )
    BrowserSession.objects.filter(id=session.id).update(last_used_at=timezone.now())
    return _OpenSource(BrowserSource(storage_state=session.storage_state_dict()), SourceKind.BROWSER, session.id)


def _close_source(opened: _OpenSource) -> None:
    """Persist refreshed API tokens (the client refreshes in memory, in its threads)."""
    client = getattr(opened.source, "client", None)
    if client is not None and client.refreshes:
        oauth_token_store(account=opened.account, tokens=client.tokens)
    opened.source.close()


@dataclass
class SearchRunOutcome:
    source: str
    searches: int
    pages: int
    found: int
    records: list[JobRecord]
    errors: list[str]


def search_run(*, specs: list[SearchSpec], source: str = SourceKind.AUTO) -> SearchRunOutcome:
    """Run searches in parallel on one source and merge their results by Upwork id (nothing stored yet).

    On a wall the browser session is marked needs_attention and NeedsAttention is raised with partial results.
    """
    opened = _open_source(source)
    try:
        try:
            results = opened.source.search_many(specs, concurrency=settings.JOBS_STRATEGY_CONCURRENCY)
        finally:
            _close_source(opened)  # first: a refreshed token is saved even when the run then failed
    except NeedsAttention as wall:
        wall.session_id = opened.session_id
        if opened.session_id is not None:
            browser_session_mark_attention(
                session_id=opened.session_id, reason=wall.reason, message=wall.message, url=wall.url
            )
        raise
    except ApiAuthError as error:
        oauth_token_mark_needs_reauth(account=opened.account, error=error.message)
        raise
    return SearchRunOutcome(
        source=opened.kind,
        searches=len(results),
        pages=sum(r.pages for r in results),
        found=sum(len(r.records) for r in results),
        records=merge_records(results),
        errors=[f"{r.spec.label}: {r.error}" for r in results if r.error],
    )


def _store_partial(wall: SourceError, profile: SearchProfile | None) -> int:
    results = getattr(wall, "results", None) or []
    records = merge_records(results)
    if not records:
        return 0
    outcome = jobs_upsert(records=records, profile=profile)
    if profile is not None:
        jobs_evaluate(profile=profile, job_ids=outcome.job_ids)
    return len(outcome.job_ids)


def job_search_run(*, spec: SearchSpec, source: str = SourceKind.AUTO, profile: SearchProfile | None = None) -> dict:
    """One search now: store what it finds (and score it when a profile is given)."""
    try:
        run = search_run(specs=[spec], source=source)
    except NeedsAttention as wall:
        wall.saved = _store_partial(wall, profile)
        raise
    outcome = jobs_upsert(records=run.records, profile=profile)
    evaluated = jobs_evaluate(profile=profile, job_ids=outcome.job_ids) if profile is not None else {}
    return {
        "source": run.source,
        "pages": run.pages,
        "found": run.found,
        "unique": len(run.records),
        "created": len(outcome.created),
        "updated": len(outcome.updated),
        "errors": run.errors,
        **evaluated,
    }


def discovery_run(*, profile_id: int, task_id: str = "") -> dict:
    """A profile's whole workflow: every strategy in parallel, merge, store, filter, rank, optional handoff."""
    profile = SearchProfile.objects.filter(id=profile_id).first()
    if profile is None:
        raise NotFound(f"No search profile with id {profile_id}.")
    if not profile.enabled:
        logger.info("Discovery for disabled profile %s skipped (task %s)", profile_id, task_id)
        return {"skipped": "profile disabled"}
    specs = specs_for_profile(profile)
    if not specs:
        raise ValidationFailed(
            f"Profile '{profile.name}' runs no searches: add keywords, skills, saved searches or categories "
            "for its strategies.",
            field_errors={"strategies": ["No searches to run."]},
        )
    try:
        run = search_run(specs=specs, source=profile.source)
    except NeedsAttention as wall:
        wall.saved = _store_partial(wall, profile)
        raise
    outcome = jobs_upsert(records=run.records, profile=profile)
    counts = jobs_evaluate(profile=profile, job_ids=outcome.job_ids)
    SearchProfile.objects.filter(id=profile.id).update(last_run_at=timezone.now())
    # Only jobs first seen in this run: one seen before was already offered (or chosen by a person).
    handoff = proposals_handoff(profile=profile, job_ids=outcome.created)
    alerts = _job_alerts(outcome.created)
    top = selectors.jobs_top(job_ids=outcome.job_ids, limit=5)
    logger.info(
        "Discovery for profile %s (task %s): %d searches, %d unique jobs, %d new",
        profile.id,
        task_id,
        run.searches,
        len(run.records),
        len(outcome.created),
    )
    return {
        "profile_id": profile.id,
        "source": run.source,
        "searches": run.searches,
        "pages": run.pages,
        "found": run.found,
        "unique": len(run.records),
        "created": len(outcome.created),
        "updated": len(outcome.updated),
        **counts,
        "errors": run.errors,
        "handed_to_proposals": handoff.job_ids,
        "handoff_note": handoff.note,
        "alerts": alerts,
        "top": [{"id": job.id, "score": job.score, "title": job.title} for job in top],
    }


def _job_alerts(job_ids: list[int]) -> int:
    """Alert the notification channels about new jobs at or above the profile's alert threshold (once per job)."""
    from notifications.services import notify_job_alerts

    return notify_job_alerts(job_ids=job_ids)


@dataclass
class Handoff:
    """What discovery handed to drafting, and, when it handed nothing it could have, why."""

    job_ids: list[int] = field(default_factory=list)
    note: str = ""


def proposals_handoff(*, profile: SearchProfile, job_ids: list[int]) -> Handoff:
    """Enqueue generate_proposal for the profile's top N of these jobs that have no proposal yet.

    The caller passes the jobs first seen in its run. Without a freelancer profile to write as, nothing
    is enqueued and the note says so (drafting would only fail).
    """
    from queue_app import registry
    from queue_app.services import task_enqueue

    if not profile.handoff_top_n:
        return Handoff()
    if "generate_proposal" not in registry.all_types():
        logger.info("generate_proposal is not registered; skipping hand-off of top %d jobs", profile.handoff_top_n)
        return Handoff(note="Proposal drafting is not installed; nothing was handed over.")
    jobs = selectors.jobs_top(
        job_ids=job_ids, limit=profile.handoff_top_n, min_score=profile.handoff_min_score, without_proposal=True
    )
    if not jobs:
        return Handoff()
    from proposals.selectors import profile_for

    if profile_for(None) is None:
        note = (
            f"Drafting skipped for {len(jobs)} top job(s): there is no default freelancer profile to write as. "
            "Create one in the admin (Freelancer profiles, mark it default), then run `manage.py proposals batch`."
        )
        logger.info("Hand-off of search profile %s skipped: no default freelancer profile", profile.id)
        return Handoff(note=note)
    handed = []
    for job in jobs:
        task_enqueue(
            task_type="generate_proposal",
            payload={"job_id": job.id},
            idempotency_key=f"generate_proposal:job:{job.id}",
        )
        handed.append(job.id)
    return Handoff(job_ids=handed)
