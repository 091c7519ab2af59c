"""Every write of job discovery: storing jobs, scoring them, status changes, sessions, tokens, discovery runs."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jobs import scoring, selectors
from jobs.errors import ApiAuthError, NeedsAttention, NoUsableSession, SourceError
from jobs.models import (
    BrowserSession,
    BrowserSessionStatus,
    Job,
    JobStatus,
    OAuthTokenStatus,
    SearchProfile,
    SourceKind,
    Strategy,
    UpworkOAuthToken,
)
from jobs.sources.base import JobRecord, JobSource, SearchResult, SearchSpec, merge_records
from queue_app.errors import InvalidTransition, NotFound, ValidationFailed

logger = logging.getLogger(__name__)

# Fields a later sighting may overwrite (when the source knew them).
RECORD_FIELDS = [name for name in JobRecord.__dataclass_fields__ if name not in ("upwork_id", "source")]
OAUTH_STATE_SALT = "jobs.oauth-state"


# --- jobs -----------------------------------------------------------------------
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


# --- browser sessions --------------------------------------------------------------
def _validate_storage_state(raw: dict | str) -> dict:
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValidationFailed(
                "The file is not JSON. Export a Playwright storage state (context.storage_state(path=...)).",
                field_errors={"storage_state": ["Not JSON."]},
            ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cookies"), list):
        raise ValidationFailed(
            "A storage state is a JSON object with a 'cookies' list (and optionally 'origins').",
            field_errors={"storage_state": ["Missing the 'cookies' list."]},
        )
    extra = set(raw) - {"cookies", "origins"}
    if extra:
        raise ValidationFailed(
            f"Unexpected keys {sorted(extra)}: import only a storage state (cookies and origins), never a password.",
            field_errors={"storage_state": [f"Unexpected keys: {', '.join(sorted(extra))}."]},
        )
    for index, cookie in enumerate(raw["cookies"]):
        if not isinstance(cookie, dict) or not cookie.get("name") or not (cookie.get("domain") or cookie.get("url")):
            raise ValidationFailed(
                f"Cookie {index} needs a name and a domain or url.",
                field_errors={"storage_state": [f"Cookie {index} is incomplete."]},
            )
    origins = raw.get("origins") or []
    if not isinstance(origins, list):
        raise ValidationFailed("'origins' must be a list.", field_errors={"storage_state": ["Bad 'origins'."]})
    return {"cookies": raw["cookies"], "origins": origins}


def browser_session_import(
    *, name: str, storage_state: dict | str, expires_at: datetime | None = None, replace: bool = False
) -> BrowserSession:
    """Store a storage state (encrypted) as an active session; expiry from its cookies unless given."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the session a name.", field_errors={"name": ["Required."]})
    state = _validate_storage_state(storage_state)
    now = timezone.now()
    if expires_at is None:
        cookie_expiries = [c["expires"] for c in state["cookies"] if isinstance(c.get("expires"), int | float)]
        cookie_expiries = [e for e in cookie_expiries if e > 0]
        if cookie_expiries:
            expires_at = datetime.fromtimestamp(max(cookie_expiries), tz=UTC)
        else:
            expires_at = now + timedelta(days=settings.JOBS_SESSION_DEFAULT_DAYS)
    if expires_at <= now:
        raise ValidationFailed(
            "Every cookie in this storage state has expired; log in again in your browser and export a fresh one.",
            field_errors={"storage_state": ["Expired."]},
        )
    domains = sorted({(c.get("domain") or c.get("url") or "").lstrip(".") for c in state["cookies"]})
    values = {
        "storage_state": json.dumps(state),
        "cookie_domains": domains,
        "status": BrowserSessionStatus.ACTIVE,
        "attention_reason": "",
        "attention_url": "",
        "attention_at": None,
        "expires_at": expires_at,
        "imported_at": now,
    }
    with transaction.atomic():
        existing = BrowserSession.objects.select_for_update().filter(name=name).first()
        if existing is not None and not replace:
            raise ValidationFailed(
                f"A session named '{name}' exists; pass --replace to overwrite it.",
                field_errors={"name": ["Already exists."]},
            )
        if existing is not None:
            for key, value in values.items():
                setattr(existing, key, value)
            existing.save()
            return existing
        return BrowserSession.objects.create(name=name, **values)


def browser_session_mark_attention(*, session_id: int, reason: str, message: str, url: str = "") -> bool:
    """Stop using the session until a person looks at it. Returns False if it was not active any more."""
    updated = BrowserSession.objects.filter(id=session_id, status=BrowserSessionStatus.ACTIVE).update(
        status=BrowserSessionStatus.NEEDS_ATTENTION,
        attention_reason=f"{reason}: {message}",
        attention_url=url[:1000],
        attention_at=timezone.now(),
    )
    logger.warning("Browser session %s needs attention (%s): %s", session_id, reason, message)
    return bool(updated)


def browser_session_reactivate(*, session_id: int) -> BrowserSession:
    """A person solved the problem (e.g. passed the CAPTCHA in a real browser): use the session again."""
    session = BrowserSession.objects.filter(id=session_id).first()
    if session is None:
        raise NotFound(f"No browser session with id {session_id}.")
    if session.expires_at <= timezone.now():
        raise InvalidTransition("The session has expired; import a fresh storage state instead.")
    BrowserSession.objects.filter(id=session_id, status=BrowserSessionStatus.NEEDS_ATTENTION).update(
        status=BrowserSessionStatus.ACTIVE, attention_reason="", attention_url="", attention_at=None
    )
    session.refresh_from_db()
    return session


def browser_session_revoke(*, session_id: int) -> None:
    BrowserSession.objects.filter(id=session_id).update(status=BrowserSessionStatus.REVOKED, storage_state="")


def browser_sessions_cleanup(*, purge_days: int | None = None, browser_max_age: float | None = None) -> dict:
    """Expire sessions past their expiry (dropping their cookies), delete long-dead ones, stop stray browsers."""
    from jobs.browsers import kill_stray_browsers

    now = timezone.now()
    purge_days = settings.JOBS_SESSION_PURGE_DAYS if purge_days is None else purge_days
    with transaction.atomic():
        expired = BrowserSession.objects.filter(
            status__in=[BrowserSessionStatus.ACTIVE, BrowserSessionStatus.NEEDS_ATTENTION], expires_at__lte=now
        ).update(status=BrowserSessionStatus.EXPIRED, storage_state="")
        purged, _ = BrowserSession.objects.filter(
            status__in=[BrowserSessionStatus.EXPIRED, BrowserSessionStatus.REVOKED],
            expires_at__lte=now - timedelta(days=purge_days),
        ).delete()
    max_age = settings.JOBS_BROWSER_MAX_AGE if browser_max_age is None else browser_max_age
    killed = kill_stray_browsers(older_than_seconds=max_age)
    return {"expired": expired, "purged": purged, "browsers_stopped": killed}


# --- Upwork API tokens ---------------------------------------------------------------
def oauth_authorization_start(*, account: str = "default") -> str:
    """The URL where the user approves API access; its signed state names the account and expires."""
    from jobs.sources.upwork_api import UpworkOAuthClient

    state = signing.dumps({"account": account, "nonce": secrets.token_urlsafe(8)}, salt=OAUTH_STATE_SALT)
    return UpworkOAuthClient().authorization_url(state=state)


def oauth_connect(*, code: str, state: str | None = None, account: str = "default") -> UpworkOAuthToken:
    """Finish the authorization-code flow: trade the code for tokens and store them encrypted."""
    from jobs.sources.upwork_api import UpworkOAuthClient

    if state is not None:
        try:
            account = signing.loads(state, salt=OAUTH_STATE_SALT, max_age=3600)["account"]
        except signing.BadSignature:
            raise ValidationFailed(
                "The authorization state is invalid or older than an hour; start the connection again.",
                field_errors={"state": ["Invalid or expired."]},
            ) from None
    if not code:
        raise ValidationFailed("The authorization code is missing.", field_errors={"code": ["Required."]})
    tokens = UpworkOAuthClient().exchange_code(code=code)
    return oauth_token_store(account=account, tokens=tokens)


def oauth_token_store(*, account: str, tokens) -> UpworkOAuthToken:
    token, _ = UpworkOAuthToken.objects.update_or_create(
        account=account,
        defaults={
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "token_type": tokens.token_type,
            "scope": tokens.scope,
            "expires_at": tokens.expires_at,
            "status": OAuthTokenStatus.ACTIVE,
            "last_error": "",
            "refreshed_at": timezone.now(),
        },
    )
    return token


def oauth_token_mark_needs_reauth(*, account: str, error: str) -> None:
    UpworkOAuthToken.objects.filter(account=account).update(status=OAuthTokenStatus.NEEDS_REAUTH, last_error=error)


# --- running searches ------------------------------------------------------------------
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
            raise NoUsableSession("The Upwork API is not connected; run `manage.py jobs_upwork_connect` first.")
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
            "No active browser session: import one with `manage.py jobs_import_session --file state.json`, "
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
        "top": [{"id": job.id, "score": job.score, "title": job.title} for job in top],
    }


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
