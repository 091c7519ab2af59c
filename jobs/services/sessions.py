"""Browser sessions: importing a logged-in session, marking it for attention, reactivating, revoking, cleaning up."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.actor import SYSTEM, Actor
from core.errors import InvalidTransition, NotFound, ValidationFailed
from jobs.models import (
    BrowserSession,
    BrowserSessionStatus,
)

logger = logging.getLogger(__name__)


def _validate_storage_state(raw: dict | str) -> dict:
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
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


def _session_view(session: BrowserSession) -> dict:
    """What the audit keeps of a browser session: never its cookies."""
    return {
        "name": session.name,
        "status": session.status,
        "cookie_domains": session.cookie_domains,
        "expires_at": session.expires_at,
    }


def _audit(session: BrowserSession, action: str, *, before: dict | None, actor: Actor) -> None:
    """The audit row 'browser_session.<action>' with the session's view (never its cookies) before and after."""
    from core.audit import audit_record

    audit_record(
        action=f"browser_session.{action}",
        object_type="browser_session",
        object_id=session.id,
        actor=actor,
        before=before,
        after=_session_view(session),
    )


def browser_session_import(
    *,
    name: str,
    storage_state: dict | str,
    expires_at: datetime | None = None,
    replace: bool = False,
    actor: Actor = SYSTEM,
) -> BrowserSession:
    """Store a storage state (encrypted) as an active session; expiry from its cookies unless given. Audited."""
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
        before = _session_view(existing) if existing is not None else None
        if existing is not None:
            for key, value in values.items():
                setattr(existing, key, value)
            existing.save()
            session = existing
        else:
            session = BrowserSession.objects.create(name=name, **values)
        _audit(session, "replace" if before else "import", before=before, actor=actor)
    return session


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


def browser_session_reactivate(*, session_id: int, actor: Actor = SYSTEM) -> BrowserSession:
    """A person solved the problem (e.g. passed the CAPTCHA in a real browser): use the session again."""
    with transaction.atomic():
        session = BrowserSession.objects.select_for_update().filter(id=session_id).first()
        if session is None:
            raise NotFound(f"No browser session with id {session_id}.")
        if session.expires_at <= timezone.now():
            raise InvalidTransition("The session has expired; import a fresh storage state instead.")
        before = _session_view(session)
        updated = BrowserSession.objects.filter(id=session_id, status=BrowserSessionStatus.NEEDS_ATTENTION).update(
            status=BrowserSessionStatus.ACTIVE, attention_reason="", attention_url="", attention_at=None
        )
        session.refresh_from_db()
        if updated:
            _audit(session, "reactivate", before=before, actor=actor)
    return session


def browser_session_revoke(*, session_id: int, actor: Actor = SYSTEM):
    """Forget the session's cookies for good (audited)."""
    with transaction.atomic():
        session = BrowserSession.objects.select_for_update().filter(id=session_id).first()
        if session is None or session.status == BrowserSessionStatus.REVOKED:
            return
        before = _session_view(session)
        session.status, session.storage_state = BrowserSessionStatus.REVOKED, ""
        session.save(update_fields=["status", "storage_state"])
        _audit(session, "revoke", before=before, actor=actor)


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
