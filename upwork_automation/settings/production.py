"""Production settings: base plus what a deployment needs (DJANGO_SETTINGS_MODULE=...settings.production)."""

import json
import logging
from datetime import UTC, datetime

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from upwork_automation.settings.base import *  # noqa: F403
from upwork_automation.settings.base import LOGGING, env

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - base's development default, refused here

SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY.strip() or SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set: the production settings refuse to start without it. Set the SECRET_KEY environment "
        "variable to a long random string, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`, and keep it secret."
    )

# Secrets at rest (OAuth tokens, browser cookies) need a key of their own: one derived from SECRET_KEY would leak
# with it and change with it.
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", default="")
_field_keys = [key.strip() for key in FIELD_ENCRYPTION_KEY.split(",") if key.strip()]
if not _field_keys:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY is not set: the production settings refuse to start without it, instead of deriving "
        "the key that encrypts stored OAuth tokens and browser cookies from SECRET_KEY. Generate one with "
        "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`, set the "
        "FIELD_ENCRYPTION_KEY environment variable to it and keep it secret (tokens stored earlier with the derived "
        "key read as empty afterwards: reconnect Upwork and upload the browser session again)."
    )
for _key in _field_keys:
    try:
        Fernet(_key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key (32 url-safe base64-encoded bytes); "
            "generate one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`."
        ) from None

DEBUG = False

# --- Static files: whitenoise serves the files `collectstatic` gathered, compressed and with hashed names ----
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- HTTPS: on by default; turn off only where no TLS sits in front (e.g. docker compose on localhost) -------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
# HSTS (a year by default) is sent on HTTPS responses only; set SECURE_HSTS_SECONDS=0 to turn it off.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
# Subdomains of this app's own host (not its siblings) are covered too.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preloading is the domain owner's submission to the browsers' list (hard to undo), so it is opt-in; its
# deployment-check reminder is silenced for the same reason.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients' requests).
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"


# --- Logging: one JSON object per line when LOG_FORMAT=json -----------------------------------------------
class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: time, level, logger, message, process, exception and `extra` fields."""

    # Attributes every LogRecord has; anything else was passed through `extra=` and is worth keeping.
    STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in self.STANDARD_ATTRIBUTES and key not in entry:
                entry[key] = value
        return json.dumps(entry, default=str, ensure_ascii=False)


LOG_FORMAT = env("LOG_FORMAT", default="plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json' (got {LOG_FORMAT!r}).")
if LOG_FORMAT == "json":
    LOGGING = {
        **LOGGING,
        "formatters": {**LOGGING["formatters"], "json": {"()": JsonFormatter}},
        "handlers": {name: {**handler, "formatter": "json"} for name, handler in LOGGING["handlers"].items()},
    }
