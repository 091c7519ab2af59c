"""The webhook signature, both ends: what we send in X-Signature and how a receiver checks it.

X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>. docs/notifications.md shows the
same verification as a stand-alone snippet; tests/notifications check the two agree.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def sign(*, secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(*, secret: str, body: bytes, header: str, tolerance: int = 300, now: float | None = None) -> bool:
    """True when the header signs this body with this secret and is at most `tolerance` seconds old."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
