"""Upwork API tokens: the OAuth connect flow (PKCE, signed state), storing and disconnecting tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import MutableMapping

from django.core import signing
from django.db import transaction
from django.utils import timezone

from core.actor import SYSTEM, Actor
from core.errors import ValidationFailed
from jobs.models import (
    OAuthTokenStatus,
    UpworkOAuthToken,
)

OAUTH_STATE_SALT = "jobs.oauth-state"
# The pending authorization (nonce, PKCE code_verifier, who started it) lives in the starter's session
# under this key: a callback from another session or user, or a second use of the same state, finds nothing.
OAUTH_PENDING_KEY = "upwork_oauth_pending"
OAUTH_STATE_MAX_AGE = 600  # seconds between "connect" and the callback


def _pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def oauth_authorization_start(
    *, store: MutableMapping, account: str = "default", store_key: str = "", actor: Actor = SYSTEM
) -> str:
    """The URL where the user approves API access.

    A fresh nonce and PKCE code_verifier are kept in `store` (the user's session; the CLI's own session row);
    the signed state carries the nonce (and, for the CLI, `store_key`, the key of that row), the URL the
    S256 code_challenge. Starting again replaces the pending authorization.
    """
    from jobs.sources.upwork_api import UpworkOAuthClient

    nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(64)
    store[OAUTH_PENDING_KEY] = {
        "nonce": nonce,
        "verifier": verifier,
        "account": account,
        "user_id": _user_id(actor.user),
    }
    state = signing.dumps(
        {"account": account, "nonce": nonce, **({"store": store_key} if store_key else {})}, salt=OAUTH_STATE_SALT
    )
    return UpworkOAuthClient().authorization_url(state=state, code_challenge=_pkce_challenge(verifier))


def _user_id(user) -> int | None:
    return user.pk if user is not None and getattr(user, "is_authenticated", False) else None


def oauth_state_payload(*, state: str) -> dict:
    """The signed content of a state, or ValidationFailed (forged, or older than OAUTH_STATE_MAX_AGE)."""
    try:
        return signing.loads(state, salt=OAUTH_STATE_SALT, max_age=OAUTH_STATE_MAX_AGE)
    except signing.BadSignature:
        raise ValidationFailed(
            f"The authorization state is invalid or older than {OAUTH_STATE_MAX_AGE // 60} minutes; "
            "start the connection again.",
            field_errors={"state": ["Invalid or expired."]},
        ) from None


def oauth_connect(*, code: str, state: str, store: MutableMapping, actor: Actor = SYSTEM) -> UpworkOAuthToken:
    """Finish the authorization-code flow: check the state against the pending authorization in `store`
    (same session, same user, used once), trade the code and PKCE verifier for tokens, store them encrypted, audit.
    """
    from core.audit import audit_record
    from jobs.sources.upwork_api import UpworkOAuthClient

    payload = oauth_state_payload(state=state or "")
    pending = store.pop(OAUTH_PENDING_KEY, None)  # single use: gone whatever happens next
    if (
        not isinstance(pending, dict)
        or not secrets.compare_digest(str(pending.get("nonce", "")), str(payload.get("nonce", "")))
        or pending.get("user_id") != _user_id(actor.user)
    ):
        raise ValidationFailed(
            "This authorization was not started in this session by this user, or was already used; "
            "start the connection again.",
            field_errors={"state": ["Not the pending authorization of this session."]},
        )
    if not code:
        raise ValidationFailed("The authorization code is missing.", field_errors={"code": ["Required."]})
    tokens = UpworkOAuthClient().exchange_code(code=code, code_verifier=pending["verifier"])
    account = pending["account"]
    with transaction.atomic():
        token = oauth_token_store(account=account, tokens=tokens)
        audit_record(
            action="upwork.connect",
            object_type="upwork_oauth_token",
            object_id=account,
            actor=actor,
            after={"account": account, "scope": token.scope, "expires_at": token.expires_at},
        )
    return token


def oauth_disconnect(*, account: str = "default", actor: Actor = SYSTEM) -> bool:
    """Forget the stored Upwork tokens of an account (audited); False if none were stored."""
    from core.audit import audit_record

    with transaction.atomic():
        token = UpworkOAuthToken.objects.select_for_update().filter(account=account).first()
        if token is None:
            return False
        before = {"account": account, "status": token.status, "scope": token.scope}
        token.delete()
        audit_record(
            action="upwork.disconnect",
            object_type="upwork_oauth_token",
            object_id=account,
            actor=actor,
            before=before,
        )
    return True


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
