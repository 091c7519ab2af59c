"""Production settings: base plus what a deployment needs (DJANGO_SETTINGS_MODULE=...settings.production)."""

import json
import logging
from datetime import UTC, datetime

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
# HSTS is sticky in browsers: raise it (31536000 = a year) once HTTPS is known to work for the host.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
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
