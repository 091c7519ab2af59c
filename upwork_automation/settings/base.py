"""Base settings: every knob is an environment variable with a safe development default."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------
SECRET_KEY = env("SECRET_KEY", default="dev-insecure-secret-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",  # kept for its migrations: queue_app moves its plaintext keys to hashed ApiTokens
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_rq",
    "axes",
    "core",
    "queue_app",
    "jobs",
    "proposals",
    "applications",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body: an /api/ body over DATA_UPLOAD_MAX_MEMORY_SIZE answers 413 JSON.
    "core.api.ApiBodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: answers a locked-out login attempt with 429 before it reaches a password check.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "upwork_automation.urls"
WSGI_APPLICATION = "upwork_automation.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Login throttling (django-axes) -----------------------------------------
# Every login that goes through authenticate() (the admin's login form; any password endpoint) is counted per
# client IP and per username: AXES_FAILURE_LIMIT failures in a row lock that IP, or that username from any IP,
# for AXES_COOLOFF_MINUTES. Attempts and lockouts are rows in the database (the admin's "Access attempts"),
# where staff see and clear them. Axes' backend must come first: it refuses before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # either one alone locks
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no banner in every process's log; failures and lockouts are still logged
# The client address is REMOTE_ADDR: behind a reverse proxy every client has the proxy's address, so put the
# client's address in REMOTE_ADDR at the proxy or WSGI server, else an IP lockout locks everyone out.

# --- Database ---------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/upwork_automation"),
}
# Persistent connections: a worker keeps one connection for its lifetime
# instead of paying a connect per task; health checks drop dead ones.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Workers write task lifecycle updates (processing, completed, failed) through their own
# connection. TASK_STATE_SYNCHRONOUS_COMMIT=off skips the WAL flush wait on those writes only:
# a PostgreSQL crash (not a restart) can then lose the last ~0.6 s of them, and the crash sweep
# and reconcile run those tasks again (delivery is at-least-once). Enqueues and handler writes
# always use the default, durable connection. Its statements are few and repeated thousands of
# times, so they bind server-side and psycopg prepares them (no re-planning per task).
# Statements run thousands of times (task lifecycle, enqueue's INSERT) are prepared once per
# connection. PgBouncer in transaction mode before 1.21 cannot keep prepared statements: set
# DB_PREPARED_STATEMENTS=false there.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
DATABASES["task_state"] = {
    **DATABASES["default"],
    "OPTIONS": {
        **DATABASES["default"].get("OPTIONS", {}),
        "server_side_binding": True,
        "prepare_threshold": 1 if DB_PREPARED_STATEMENTS else None,
        "options": f"-c synchronous_commit={env('TASK_STATE_SYNCHRONOUS_COMMIT', default='on')}",
    },
    "TEST": {"MIRROR": "default"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis / RQ -------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
TASK_PRIORITIES = ["critical", "high", "normal", "low"]
# One queue per priority. "default" carries no tasks: django-rq's rqscheduler and dashboard
# look for a queue of that name, so it exists on the same connection.
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600} for name in [*TASK_PRIORITIES, "default"]}
RQ = {
    # The enqueue service defers the push to transaction.on_commit itself and
    # chooses the job id (the task's UUID), so django-rq pushes immediately.
    "COMMIT_MODE": "auto",
    "WORKER_CLASS": env("WORKER_CLASS", default="queue_app.worker.TaskWorker"),
    # No callbacks or webhooks from Redis (docs/security.md).
    "JOB_CLASS": "queue_app.rq_adapter.TaskJob",
    # `manage.py rqscheduler` fires ScheduledTask rows (queue_app/scheduler.py).
    "SCHEDULER_CLASS": "queue_app.scheduler.ScheduleScheduler",
}
RQ_SHOW_ADMIN_LINK = True

# --- Queue behaviour (the product's settings) -------------------------------
WORKER_CONCURRENCY = env.int("WORKER_CONCURRENCY", default=3)
MAX_RETRIES = env.int("MAX_RETRIES", default=3)
TASK_TIMEOUT = env.int("TASK_TIMEOUT", default=3600)
RETRY_BACKOFF_BASE = env.float("RETRY_BACKOFF_BASE", default=120.0)
RETRY_BACKOFF_FACTOR = env.float("RETRY_BACKOFF_FACTOR", default=2.0)
TASK_RESULT_TTL = env.int("TASK_RESULT_TTL", default=600)
SCHEDULER_ENABLED = env.bool("SCHEDULER_ENABLED", default=True)
DEFAULT_TASKS_ENABLED = env.bool("DEFAULT_TASKS_ENABLED", default=True)
SCHEDULER_TIMEZONE = env("SCHEDULER_TIMEZONE", default=TIME_ZONE)
# A sixth, seconds field in cron expressions (`* * * * * */5`): for tests and demos only.
SCHEDULER_CRON_SECONDS = env.bool("SCHEDULER_CRON_SECONDS", default=False)
# Business hours of the default job discovery schedule: [START, END) hours on BUSINESS_DAYS (cron syntax).
BUSINESS_HOURS_START = env.int("BUSINESS_HOURS_START", default=9)
BUSINESS_HOURS_END = env.int("BUSINESS_HOURS_END", default=17)
BUSINESS_DAYS = env("BUSINESS_DAYS", default="1-5")
BUSINESS_TIMEZONE = env("BUSINESS_TIMEZONE", default=SCHEDULER_TIMEZONE)
MAX_PAYLOAD_BYTES = env.int("MAX_PAYLOAD_BYTES", default=256 * 1024)
# Crash recovery and reconcile (see queue_app/maintenance.py).
WORKER_HEARTBEAT_SECONDS = env.int("WORKER_HEARTBEAT_SECONDS", default=5)
WORKER_STALE_SECONDS = env.int("WORKER_STALE_SECONDS", default=30)
MAINTENANCE_INTERVAL = env.int("MAINTENANCE_INTERVAL", default=5)
RECONCILE_INTERVAL = env.int("RECONCILE_INTERVAL", default=30)
RECONCILE_GRACE_SECONDS = env.int("RECONCILE_GRACE_SECONDS", default=10)
WORKER_REDIS_MAX_BACKOFF = env.int("WORKER_REDIS_MAX_BACKOFF", default=8)
# RQ job functions (dotted paths) the task workers run beside the task runner; every other job in
# Redis is refused (queue_app.rq_adapter.job_refusal). Empty in production; bench/throughput.py
# sets it for its bare-RQ baseline on our worker classes.
WORKER_EXTRA_JOB_FUNCTIONS = env.list("WORKER_EXTRA_JOB_FUNCTIONS", default=[])
# Specialized workers (queue_app/registry.py families, queue_app/limits.py).
# WORKER_POOLS: which worker processes run_workers starts, e.g. "discovery:1,proposals:2,applications+system:1";
# empty means WORKER_CONCURRENCY workers serving every family.
WORKER_POOLS = env("WORKER_POOLS", default="")
# Thread workers (queue_app/thread_worker.py) for I/O-bound families: tasks one process runs at once.
# 0 = off: run_workers starts one-task workers unless a pool asks for threads ("proposals:1:threads16").
WORKER_THREADS = env.int("WORKER_THREADS", default=0)
# A thread still busy this long past its task's timeout is stuck: its worker recycles itself.
WORKER_THREAD_STUCK_SECONDS = env.float("WORKER_THREAD_STUCK_SECONDS", default=30.0)
# queue_app.batch_worker.TaskBatchWorker: the most tasks one worker cycle takes from a queue.
WORKER_BATCH_SIZE = env.int("WORKER_BATCH_SIZE", default=32)
WORKER_SHUTDOWN_GRACE = env.float("WORKER_SHUTDOWN_GRACE", default=30.0)
TASK_FAMILIES_EXTRA = env.list("TASK_FAMILIES_EXTRA", default=[])
DISCOVERY_PER_HOST_CONCURRENCY = env.int("DISCOVERY_PER_HOST_CONCURRENCY", default=1)
# Default of the runtime switch discovery.scheduled (admin: Runtime switches): off = scheduled discovery does nothing.
DISCOVERY_SCHEDULED_ENABLED = env.bool("DISCOVERY_SCHEDULED_ENABLED", default=True)
APPLICATIONS_CONCURRENCY = env.int("APPLICATIONS_CONCURRENCY", default=1)
OPENAI_RATE_LIMIT = env("OPENAI_RATE_LIMIT", default="60/m")
# Per family or task type: {"generate_proposal": {"rate": "20/m"}, "job_search": {"memory_limit_mb": 1024}}
TASK_LIMITS = env.json("TASK_LIMITS", default={})
LIMIT_RETRY_SECONDS = env.float("LIMIT_RETRY_SECONDS", default=2.0)

# --- Job discovery (jobs app; jobs/conf.py derives the Upwork addresses) ----------
UPWORK_BASE_URL = env("UPWORK_BASE_URL", default="https://www.upwork.com")  # sandbox: http://127.0.0.1:8765
UPWORK_API_URL = env("UPWORK_API_URL", default="")  # "" = https://api.upwork.com/graphql, or <base>/graphql off Upwork
UPWORK_TOKEN_URL = env("UPWORK_TOKEN_URL", default="")  # "" = <base>/api/v3/oauth2/token
UPWORK_AUTHORIZE_URL = env("UPWORK_AUTHORIZE_URL", default="")  # "" = <base>/ab/account-security/oAuth2/authorize
UPWORK_CLIENT_ID = env("UPWORK_CLIENT_ID", default="")
UPWORK_CLIENT_SECRET = env("UPWORK_CLIENT_SECRET", default="")
UPWORK_REDIRECT_URI = env("UPWORK_REDIRECT_URI", default="http://127.0.0.1:8000/api/jobs/oauth/callback/")
UPWORK_API_TIMEOUT = env.float("UPWORK_API_TIMEOUT", default=30.0)
UPWORK_API_PAGE_SIZE = env.int("UPWORK_API_PAGE_SIZE", default=10)
UPWORK_API_MAX_PAGES = env.int("UPWORK_API_MAX_PAGES", default=5)
UPWORK_API_RATE_LIMIT_RETRIES = env.int("UPWORK_API_RATE_LIMIT_RETRIES", default=2)
UPWORK_API_MAX_RETRY_WAIT = env.float("UPWORK_API_MAX_RETRY_WAIT", default=60.0)
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", default="")  # Fernet key(s), comma-separated; "" = from SECRET_KEY

# Notifications (docs/notifications.md): where links in messages point, the Telegram API, retries, SMTP.
NOTIFY_SITE_URL = env("NOTIFY_SITE_URL", default="http://127.0.0.1:8000")  # this app's address, for admin links
TELEGRAM_API_URL = env("TELEGRAM_API_URL", default="https://api.telegram.org")  # sandbox: http://127.0.0.1:8765
NOTIFY_HTTP_TIMEOUT = env.float("NOTIFY_HTTP_TIMEOUT", default=10.0)
NOTIFY_MAX_ATTEMPTS = env.int("NOTIFY_MAX_ATTEMPTS", default=6)  # per delivery, then it is failed
NOTIFY_RETRY_BASE_SECONDS = env.float("NOTIFY_RETRY_BASE_SECONDS", default=10.0)  # backoff: base * 2**(attempt-1)
NOTIFY_RETRY_MAX_SECONDS = env.float("NOTIFY_RETRY_MAX_SECONDS", default=900.0)  # cap on backoff and Retry-After
NOTIFY_MIN_INTERVAL = env.float("NOTIFY_MIN_INTERVAL", default=1.0)  # seconds between two sends to one channel
NOTIFY_HEALTH_COOLDOWN = env.int("NOTIFY_HEALTH_COOLDOWN", default=900)  # seconds between two health messages
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)  # STARTTLS, usually port 587
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)  # implicit TLS, usually port 465
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="upwork-automation@localhost")
JOBS_STRATEGY_CONCURRENCY = env.int("JOBS_STRATEGY_CONCURRENCY", default=2)
# Empty: upwork_automation.chromium finds one (a system Chromium on PATH, else Playwright's own browser).
JOBS_BROWSER_EXECUTABLE = env("JOBS_BROWSER_EXECUTABLE", default="")
JOBS_BROWSER_HEADLESS = env.bool("JOBS_BROWSER_HEADLESS", default=True)
JOBS_BROWSER_DELAY_MIN = env.float("JOBS_BROWSER_DELAY_MIN", default=2.0)  # seconds between page loads, jittered
JOBS_BROWSER_DELAY_MAX = env.float("JOBS_BROWSER_DELAY_MAX", default=6.0)
JOBS_BROWSER_MAX_PAGES = env.int("JOBS_BROWSER_MAX_PAGES", default=3)  # result pages per search
JOBS_BROWSER_MAX_DETAILS = env.int("JOBS_BROWSER_MAX_DETAILS", default=20)  # job pages opened per search
JOBS_BROWSER_NAV_TIMEOUT = env.float("JOBS_BROWSER_NAV_TIMEOUT", default=30.0)
JOBS_BROWSER_MAX_AGE = env.int("JOBS_BROWSER_MAX_AGE", default=3600)  # cleanup stops our Chromium older than this
JOBS_SESSION_DEFAULT_DAYS = env.int("JOBS_SESSION_DEFAULT_DAYS", default=30)  # expiry when cookies don't say
JOBS_SESSION_PURGE_DAYS = env.int("JOBS_SESSION_PURGE_DAYS", default=30)
# Watching (jobs/services/watching.py): a profile polls the official API every poll_seconds. The floor of poll_seconds
# is max(WATCH_MIN_POLL_SECONDS, ceil(86400 * searches per poll / (UPWORK_API_DAILY_LIMIT * WATCH_API_SHARE))):
# a watching profile may spend WATCH_API_SHARE of the API key's daily request limit (set it to your key's limit).
UPWORK_API_DAILY_LIMIT = env.int("UPWORK_API_DAILY_LIMIT", default=40000)
WATCH_API_SHARE = env.float("WATCH_API_SHARE", default=0.5)
WATCH_MIN_POLL_SECONDS = env.int("WATCH_MIN_POLL_SECONDS", default=15)
WATCH_MAX_CONSECUTIVE_ERRORS = env.int("WATCH_MAX_CONSECUTIVE_ERRORS", default=5)  # then watching stops itself
WATCH_SEEN_RETENTION_DAYS = env.int("WATCH_SEEN_RETENTION_DAYS", default=14)  # seen-set rows kept this long

# --- Proposals (proposals app) -----------------------------------------------
PROPOSAL_GENERATOR = env("PROPOSAL_GENERATOR", default="openai")  # or "template": offline, deterministic
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_MODEL = env("OPENAI_MODEL", default="gpt-4o-mini")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="")
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=60.0)
OPENAI_DAILY_COST_CAP_USD = env("OPENAI_DAILY_COST_CAP_USD", cast=Decimal, default=Decimal("5.00"))
OPENAI_PRICE_INPUT_PER_1K = env("OPENAI_PRICE_INPUT_PER_1K", cast=Decimal, default=Decimal("0.00015"))
OPENAI_PRICE_OUTPUT_PER_1K = env("OPENAI_PRICE_OUTPUT_PER_1K", cast=Decimal, default=Decimal("0.0006"))
PROPOSAL_WORD_LIMIT = env.int("PROPOSAL_WORD_LIMIT", default=250)
PROPOSAL_MAX_ATTACHMENTS = env.int("PROPOSAL_MAX_ATTACHMENTS", default=3)
# Largest portfolio attachment accepted (bytes); multipart /api/ bodies may exceed DATA_UPLOAD_MAX_MEMORY_SIZE by this.
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
PROPOSAL_BATCH_CONCURRENCY = env.int("PROPOSAL_BATCH_CONCURRENCY", default=5)
PROPOSAL_BATCH_MIN_SCORE = env.int("PROPOSAL_BATCH_MIN_SCORE", default=60)
GOOGLE_SERVICE_ACCOUNT_FILE = env("GOOGLE_SERVICE_ACCOUNT_FILE", default="")
GOOGLE_DRIVE_FOLDER_ID = env("GOOGLE_DRIVE_FOLDER_ID", default="")
GOOGLE_SHARE_WITH = env("GOOGLE_SHARE_WITH", default="")
GOOGLE_SHARE_ROLE = env("GOOGLE_SHARE_ROLE", default="commenter")
GOOGLE_API_NUM_RETRIES = env.int("GOOGLE_API_NUM_RETRIES", default=3)

# --- Applications: safety controls (listed in applications/conf.py); every default is the safe one ---
APPLICATIONS_ENABLED = env.bool("APPLICATIONS_ENABLED", default=False)  # kill switch: off = nothing is sent
APPLICATIONS_REQUIRE_APPROVAL = env.bool("APPLICATIONS_REQUIRE_APPROVAL", default=True)
APPLICATIONS_DRY_RUN = env.bool("APPLICATIONS_DRY_RUN", default=False)  # fill + screenshot, never click submit
APPLICATIONS_DAILY_CAP = env.int("APPLICATIONS_DAILY_CAP", default=10)
APPLICATIONS_MIN_GAP_SECONDS = env.float("APPLICATIONS_MIN_GAP_SECONDS", default=900.0)
APPLICATIONS_GAP_JITTER_SECONDS = env.float("APPLICATIONS_GAP_JITTER_SECONDS", default=600.0)
APPLICATIONS_MONTHLY_CONNECTS_BUDGET = env.int("APPLICATIONS_MONTHLY_CONNECTS_BUDGET", default=100)
APPLICATIONS_MAX_CONNECTS_PER_JOB = env.int("APPLICATIONS_MAX_CONNECTS_PER_JOB", default=16)
APPLICATIONS_BOOST_ENABLED = env.bool("APPLICATIONS_BOOST_ENABLED", default=False)
APPLICATIONS_MAX_BOOST_CONNECTS = env.int("APPLICATIONS_MAX_BOOST_CONNECTS", default=0)
APPLICATIONS_VERIFY_DELAY_SECONDS = env.float("APPLICATIONS_VERIFY_DELAY_SECONDS", default=120.0)
# Separation of duties: who approved a proposal may not approve its application (a second person must).
APPLICATIONS_REQUIRE_SECOND_APPROVER = env.bool("APPLICATIONS_REQUIRE_SECOND_APPROVER", default=False)
# Outcome tracking (docs/applications.md "Outcomes"): a sent proposal with no client event after this many days
# is recorded as no_response (a later event still counts).
OUTCOME_NO_RESPONSE_DAYS = env.int("OUTCOME_NO_RESPONSE_DAYS", default=14)

# --- Monitoring: health thresholds and metrics -------------------------------
HEALTH_WINDOW_MINUTES = env.int("HEALTH_WINDOW_MINUTES", default=60)  # failure rate / avg time window
HEALTH_MIN_SAMPLE = env.int("HEALTH_MIN_SAMPLE", default=5)  # finished tasks before rates count
HEALTH_FAILURE_RATE_MAX = env.float("HEALTH_FAILURE_RATE_MAX", default=0.10)
HEALTH_AVG_DURATION_MAX = env.float("HEALTH_AVG_DURATION_MAX", default=300.0)  # seconds
HEALTH_PENDING_MAX = env.int("HEALTH_PENDING_MAX", default=100)
HEALTH_HEARTBEAT_MAX_AGE = env.int("HEALTH_HEARTBEAT_MAX_AGE", default=450)  # idle RQ workers beat every ~405 s
METRICS_BACKFILL_HOURS = env.int("METRICS_BACKFILL_HOURS", default=168)  # first calculate_metrics run
PROMETHEUS_TOKEN = env("PROMETHEUS_TOKEN", default="")  # bearer token for the metrics scrape; empty: off

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # 'Authorization: Token KEY' against hashed, expiring tokens (django-rest-knox; core.ApiToken).
        "core.permissions.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Roles (core/permissions.py): viewer reads; operator and staff also write.
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.HasApiRole"],
    "DEFAULT_THROTTLE_CLASSES": ["core.permissions.UserRoleRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's defaults, with JSON nested too deep answered 400 (core/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.ApiJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.ApiPagination",  # limit/offset, limit capped at 1000
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
}
# API tokens: stored as SHA-512 digests (django-rest-knox), shown once, expiring after API_TOKEN_TTL_DAYS.
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=90)
KNOX_TOKEN_MODEL = "core.ApiToken"  # noqa: S105 - a model name
DATABASE_ROUTERS = ["core.routers.SwappedKnoxRouter"]  # no table for knox's own (swapped) model
# knox's migrations only make its own swapped-out table (which the router refuses anyway), and their first one
# depends on KNOX_TOKEN_MODEL's app: since the token model moved from queue_app to core, that dependency would
# stop every existing database migrating (knox applied before core). Without migrations knox has nothing to check.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_TTL_DAYS),
    "AUTH_HEADER_PREFIX": "Token",  # what clients already send
    "TOKEN_PREFIX": "uwa_",  # recognisable in a leak (secret scanners, logs)
    "AUTO_REFRESH": False,
}
# Per-user request rates ("N/second|minute|hour|day"), counted in Redis so all web processes share them.
API_THROTTLE_USER = env("API_THROTTLE_USER", default="120/min")  # writes (POST, PUT, PATCH, DELETE)
API_THROTTLE_READ = env("API_THROTTLE_READ", default="600/min")  # reads (GET, HEAD, OPTIONS)
# Request bodies above this answer 413 (Django's own limit, also applied to /api/ JSON bodies).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
SPECTACULAR_SETTINGS = {
    "TITLE": "Upwork Automation API",
    "DESCRIPTION": "Task queue, schedules, monitoring and the Upwork pipeline. Token or session authentication.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["core.permissions.HasApiRole"],
    "SWAGGER_UI_DIST": "SIDECAR",  # self-hosted by drf-spectacular-sidecar: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.add_error_responses",  # the one error shape, on every operation
    ],
    # Choice sets sharing a field name ("status", "source") get their own enum names; a new one needs a line here
    # (tests/api/test_schema.py fails on the warning otherwise).
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "queue_app.models.TaskStatus",
        "TaskSourceEnum": "queue_app.models.TaskSource",
        "JobStatusEnum": "jobs.models.JobStatus",
        "JobSourceKindEnum": "jobs.models.SourceKind",
        "BrowserSessionStatusEnum": "jobs.models.BrowserSessionStatus",
        "OAuthTokenStatusEnum": "jobs.models.OAuthTokenStatus",
        "ProposalStatusEnum": "proposals.models.ProposalStatus",
        "ProposalVersionSourceEnum": "proposals.models.VersionSource",
        "ApplicationStatusEnum": "applications.models.ApplicationStatus",
    },
}

# --- Content Security Policy (django-csp) on every response ----------------------------------
# Scripts only from our own origin (admin, dashboard, Swagger UI and Redoc from the sidecar are all files); the one
# inline script django-rq's job pages carry is allowed by its hash (tests/test_security_headers.py recomputes it).
# Inline styles stay allowed: the admin, Swagger UI and Redoc set style attributes.
DJANGO_RQ_INLINE_SCRIPT_HASH = "'sha256-1kZe1KRxelr3ptMPsod17Z6BDvbtm4WcufgsZGvsErM='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, DJANGO_RQ_INLINE_SCRIPT_HASH],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],  # Redoc's search worker
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Static files -----------------------------------------------------------
STATIC_URL = "static/"
# Uploaded files (proposal attachments).
MEDIA_URL = env("MEDIA_URL", default="media/")
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise
WHITENOISE_USE_FINDERS = DEBUG

# --- Logging ----------------------------------------------------------------
LOG_DIR = Path(env("LOG_DIR", default=str(BASE_DIR / "logs")))
LOG_DIR.mkdir(parents=True, exist_ok=True)
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"},
    },
    # RQ's per-queue "cleaning registries" lines are routine: DEBUG, not INFO (queue_app/logs.py).
    "filters": {"rq_maintenance_at_debug": {"()": "queue_app.logs.RQMaintenanceAtDebug"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "workers_file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": str(LOG_DIR / "workers.log"),
            "formatter": "plain",
        },
        "scheduler_file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": str(LOG_DIR / "scheduler.log"),
            "formatter": "plain",
        },
    },
    "loggers": {
        "rq.worker": {
            "handlers": ["console", "workers_file"],
            "filters": ["rq_maintenance_at_debug"],
            "level": LOG_LEVEL,
            "propagate": False,
        },
        "queue_app.worker": {"handlers": ["console", "workers_file"], "level": LOG_LEVEL, "propagate": False},
        "queue_app.execution": {"handlers": ["console", "workers_file"], "level": LOG_LEVEL, "propagate": False},
        "rq_scheduler": {"handlers": ["console", "scheduler_file"], "level": LOG_LEVEL, "propagate": False},
        "queue_app.scheduler": {"handlers": ["console", "scheduler_file"], "level": LOG_LEVEL, "propagate": False},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Analytics and calibration (docs/analytics.md) ----------------------------------------------
# The score's calibration (AUC, per-part evidence, suggested weights) needs at least this many settled outcomes.
ANALYTICS_MIN_OUTCOMES = env.int("ANALYTICS_MIN_OUTCOMES", default=100)
# Calibration looks back this many days of sent proposals, and fits on at most this many of a profile's newest.
ANALYTICS_CALIBRATION_DAYS = env.int("ANALYTICS_CALIBRATION_DAYS", default=180)
ANALYTICS_CALIBRATION_MAX_ROWS = env.int("ANALYTICS_CALIBRATION_MAX_ROWS", default=20000)
# How long the page's rates (the cube) are kept in Django's cache (0: never); a changed or new application changes
# the key at once, so this bounds only what the key cannot see (a job edited after it was applied to, the window).
ANALYTICS_OVERVIEW_CACHE_SECONDS = env.int("ANALYTICS_OVERVIEW_CACHE_SECONDS", default=60)
