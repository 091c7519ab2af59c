"""Encryption at rest for secrets (OAuth tokens, browser cookies): Fernet with a key from the environment."""

from __future__ import annotations

import base64
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

logger = logging.getLogger(__name__)
PREFIX = "fernet:"


def _fernet() -> MultiFernet:
    """FIELD_ENCRYPTION_KEY (comma-separated for rotation, newest first), else a key derived from SECRET_KEY."""
    raw = settings.FIELD_ENCRYPTION_KEY
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if not keys:
        digest = hashlib.sha256(b"jobs.field-encryption:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(plaintext: str) -> str:
    return PREFIX + _fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    """Return the plaintext; an unreadable value (key changed) reads as empty, so the secret must be re-entered."""
    if not stored.startswith(PREFIX):
        return stored
    try:
        return _fernet().decrypt(stored.removeprefix(PREFIX).encode()).decode()
    except InvalidToken:
        logger.warning("An encrypted field could not be decrypted; was FIELD_ENCRYPTION_KEY changed?")
        return ""


class EncryptedTextField(models.TextField):
    """A TextField stored Fernet-encrypted; Python code sees plaintext, the database never does."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
