"""Settings, read from the environment (12-factor). Sections: core, data, realtime, background, API, limits.

Only this module reads the environment; app code reads ``django.conf.settings`` at call time.
"""

import os
import warnings
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from quorum import redis_urls
from quorum.secret_key import secret_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# --- core ---------------------------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
VAR_DIR = Path(os.environ.get("QUORUM_VAR_DIR", BASE_DIR / "var"))
# Unset: a random key kept in $QUORUM_VAR_DIR/secret_key. A published or weak key stops start-up unless DEBUG is on.
SECRET_KEY = secret_key(os.environ.get("SECRET_KEY", ""), VAR_DIR, DEBUG)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(",")]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# Pages at these origins may open WebSockets here too, besides this site itself (and CSRF_TRUSTED_ORIGINS).
QUORUM_WS_ALLOWED_ORIGINS = [o for o in os.environ.get("QUORUM_WS_ALLOWED_ORIGINS", "").split(",") if o]
# Behind a TLS-terminating proxy. uvicorn takes the client address and scheme from X-Forwarded-For / -Proto only
# from the addresses in FORWARDED_ALLOW_IPS (quorum/launcher.py, docker/); rate limits count by that address.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL_HEADER") else None
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "quorum",
    "workers",
    "tasks",
    "webhooks",
]

MIDDLEWARE = [
    # First: the request id, user and job of log lines, the X-Request-ID header, requests counted for /metrics.
    "quorum.logs.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "quorum.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of each page: the one chosen on the page (a cookie), else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "quorum.urls"
ASGI_APPLICATION = "quorum.asgi.application"
AUTH_USER_MODEL = "workers.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.template.context_processors.i18n",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

STATIC_URL = "/static/"
STATICFILES_DIRS = [("frontend", BASE_DIR / "frontend")]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = VAR_DIR / "media"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
# The worker's pages and messages are translated (locale/<code>/LC_MESSAGES: django.po for templates and Python,
# djangojs.po for the browser's strings, served by /jsi18n/). `make messages` refreshes them (docs/I18N.md).
USE_I18N = True
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- data ---------------------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quorum")
# Under ASGI every request runs in a thread of its own, so a persistent connection (CONN_MAX_AGE > 0) stayed with
# its dead thread until a full garbage collection, and a burst of requests used up PostgreSQL's connections. Each
# process instead borrows from a bounded pool (psycopg_pool) and gives the connection back when the request ends.
# DB_POOL_MAX_SIZE=0 turns the pool off: then a connection per request, closed at its end.
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)}
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(env_int("DB_POOL_MIN_SIZE", 1), DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        # A request waits this long for a free connection, then fails (500) instead of queueing forever.
        "timeout": float(os.environ.get("DB_POOL_TIMEOUT", 20)),
    }
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME") or None}

# --- realtime -------------------------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Each role Redis plays may have its own server; unset, REDIS_URL. Any of them may be a Sentinel URL
# (redis+sentinel://host:26379,host2:26379/master_name/db; quorum/redis_urls.py, docs/DEPLOYMENT.md).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL  # also the beat schedule (RedBeat)
CHANNEL_REDIS_URL = os.environ.get("CHANNEL_REDIS_URL") or REDIS_URL
SCHEDULER_REDIS_URL = os.environ.get("SCHEDULER_REDIS_URL") or REDIS_URL  # hot state: pools, counts, locks
CACHE_REDIS_URL = os.environ.get("CACHE_REDIS_URL") or REDIS_URL
# Only the scheduler's state may live on a Redis Cluster (redis+cluster://host:port,host:port/): Celery's broker,
# channels_redis and Django's cache speak to one server.
for _role, _url in (
    ("CELERY_BROKER_URL", CELERY_BROKER_URL),
    ("CHANNEL_REDIS_URL", CHANNEL_REDIS_URL),
    ("CACHE_REDIS_URL", CACHE_REDIS_URL),
):
    if redis_urls.is_cluster(_url):
        raise ImproperlyConfigured(
            f"{_role} (or REDIS_URL, its default) is a Redis Cluster URL; only SCHEDULER_REDIS_URL may name a "
            "cluster: give this role a plain or Sentinel URL (docs/DEPLOYMENT.md)"
        )
# Keys of this deployment in a shared Redis (parallel test runs use their own prefix).
REDIS_PREFIX = os.environ.get("QUORUM_REDIS_PREFIX", "quorum")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                redis_urls.channel_layer_host(
                    CHANNEL_REDIS_URL, max_connections=env_int("CHANNEL_REDIS_MAX_CONNECTIONS", 1000)
                )
            ],
            "prefix": f"{REDIS_PREFIX}:asgi",
            "capacity": 1000,
            "expiry": 60,
        },
    }
}

# --- background (Celery) ----------------------------------------------------------------------------------------
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = f"{REDIS_PREFIX}.default"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_URL, _sentinel_options = redis_urls.celery_broker(CELERY_BROKER_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{REDIS_PREFIX}:celery:",
    "visibility_timeout": 3600,
    **_sentinel_options,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Beat keeps its schedule in Redis (RedBeat) under a lock: a second beat stands by and takes over within
# CELERY_REDBEAT_LOCK_TIMEOUT seconds of the first one's death; each pass also skips while its last run is still
# going (quorum/periodic.py).
CELERY_BEAT_SCHEDULER = "quorum.beat.Scheduler"  # RedBeat, riding out Redis outages
CELERY_REDBEAT_REDIS_URL, CELERY_REDBEAT_REDIS_OPTIONS = redis_urls.redbeat_redis(
    os.environ.get("CELERY_BROKER_URL") or REDIS_URL
)
# At start-up (loading the schedule), beat waits this long for an unreachable Redis before giving up.
CELERY_REDBEAT_REDIS_OPTIONS["retry_period"] = env_int("QUORUM_BEAT_REDIS_RETRY_SECONDS", 60)
CELERY_REDBEAT_KEY_PREFIX = f"{REDIS_PREFIX}:redbeat:"
CELERY_REDBEAT_LOCK_TIMEOUT = env_int("QUORUM_BEAT_LOCK_TIMEOUT", 10)
# A standby beat retries the lock this often; the active one renews it this often (at least).
CELERY_BEAT_MAX_LOOP_INTERVAL = env_int("QUORUM_BEAT_MAX_INTERVAL", 5)
CELERY_BEAT_SCHEDULE: dict = {
    "expire-leases": {"task": "tasks.background.expire_leases", "schedule": 2.0},
    "webhooks-sweep": {"task": "webhooks.background.webhooks_sweep", "schedule": 1.0},
    "webhooks-purge": {"task": "webhooks.background.deliveries_purge", "schedule": 3600.0},
    "sync-open-jobs": {"task": "tasks.background.sync_open_jobs", "schedule": 30.0},
    "reconcile-pools": {"task": "tasks.background.reconcile_pools", "schedule": 15.0},
    "refresh-pace": {"task": "tasks.background.refresh_pace", "schedule": 60.0},
    "check-gold-answers": {"task": "tasks.background.check_gold_answers", "schedule": 2.0},
    # Gold answers from PostgreSQL alone, for when Redis lost the queue or a pass died.
    "repair-gold-checks": {"task": "tasks.background.repair_gold_checks", "schedule": 30.0},
    "refresh-pending-results": {"task": "tasks.background.refresh_pending_results", "schedule": 2.0},
    "refresh-job-results": {"task": "tasks.background.refresh_job_results", "schedule": 30.0},
    # Results and finished jobs from PostgreSQL alone, for when Redis lost the queue or a pass died.
    "repair-results": {"task": "tasks.background.repair_results", "schedule": 30.0},
    "auto-accept-answers": {"task": "tasks.background.auto_accept_answers", "schedule": 60.0},
    "enforce-budgets": {"task": "tasks.background.enforce_budgets", "schedule": 10.0},
    "purge-upload-files": {"task": "tasks.background.purge_upload_files", "schedule": 600.0},
    "drop-orphan-partitions": {"task": "tasks.background.drop_orphan_partitions", "schedule": 300.0},
    "automation-sweep": {
        "task": "tasks.automation.background.automation_sweep",
        "schedule": float(os.environ.get("QUORUM_AUTOMATION_SWEEP_SECONDS", 30)),
    },
}
# --- money (quorum/money.py, workers ledger) ---
# The one currency of this deployment: every amount shown or exported says it ("USD 0.40").
QUORUM_CURRENCY = os.environ.get("QUORUM_CURRENCY", "USD").strip() or "USD"
# The largest bonus a requester may pay one worker at once, in QUORUM_CURRENCY.
QUORUM_MAX_BONUS = Decimal(os.environ.get("QUORUM_MAX_BONUS", "100"))
# A closed socket keeps its leases this long, so a reload resumes them.
QUORUM_RECONNECT_GRACE_SECONDS = env_int("QUORUM_RECONNECT_GRACE_SECONDS", 30)
# PostgreSQL connections per ASGI process for the scheduler's group commits.
QUORUM_COMMIT_CONNECTIONS = env_int("QUORUM_COMMIT_CONNECTIONS", 2)
# Model work has its own queue and Celery worker (concurrency 1), so it never holds up the default queue.
CELERY_TASK_ROUTES = {"tasks.automation.background.*": {"queue": f"{REDIS_PREFIX}.automation"}}

# --- automation (tasks/automation/) ---------------------------------------------------------------------------------
# "embedding" (all-MiniLM-L6-v2 + softmax head) or "hashing" (hashed words + the same head; no model files).
QUORUM_AUTOMATION_SOLVER = os.environ.get("QUORUM_AUTOMATION_SOLVER", "embedding")
# Empty: the GPU when torch.cuda.is_available(), else the CPU.
QUORUM_AUTOMATION_DEVICE = os.environ.get("QUORUM_AUTOMATION_DEVICE", "")
QUORUM_AUTOMATION_BATCH_SIZE = env_int("QUORUM_AUTOMATION_BATCH_SIZE", 64)
# Load and warm up the model when the automation Celery worker starts, not on its first job.
QUORUM_AUTOMATION_PRELOAD = env_bool("QUORUM_AUTOMATION_PRELOAD", True)
# Human results before the first model; new human results that trigger a retrain.
QUORUM_AUTOMATION_MIN_LABELS = env_int("QUORUM_AUTOMATION_MIN_LABELS", 100)
QUORUM_AUTOMATION_RETRAIN_MIN = env_int("QUORUM_AUTOMATION_RETRAIN_MIN", 25)
QUORUM_AUTOMATION_RETRAIN_SHARE = float(os.environ.get("QUORUM_AUTOMATION_RETRAIN_SHARE", 0.01))
# Risk level of the threshold bound (1 - confidence) and of the audit stop rule.
QUORUM_AUTOMATION_DELTA = float(os.environ.get("QUORUM_AUTOMATION_DELTA", 0.1))
QUORUM_AUTOMATION_AUDIT_MIN = env_int("QUORUM_AUTOMATION_AUDIT_MIN", 10)
QUORUM_AUTOMATION_AUDIT_DELTA = float(os.environ.get("QUORUM_AUTOMATION_AUDIT_DELTA", 0.05))
QUORUM_AUTOMATION_MIN_HUMAN_CONFIDENCE = float(os.environ.get("QUORUM_AUTOMATION_MIN_HUMAN_CONFIDENCE", 0.5))

# --- accounts ---------------------------------------------------------------------------------------------------
# Who may create an account at /signup/ and /api/auth/signup/: "requester,worker" (anyone on the network may post
# and do work), "worker" (an open crowd; staff create requesters in /admin/), or "" (closed: staff create everyone).
QUORUM_SIGNUP_ROLES = [
    r.strip() for r in os.environ.get("QUORUM_SIGNUP_ROLES", "requester,worker").split(",") if r.strip()
]
# Passwords people choose (sign-up, admin, `changepassword`); accounts made in code (the demo, tests) skip them.
QUORUM_PASSWORD_MIN_LENGTH = env_int("QUORUM_PASSWORD_MIN_LENGTH", 10)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": QUORUM_PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every password check (sign-in page, API token, admin, browsable API) counts failures and honours the lockout.
AUTHENTICATION_BACKENDS = ["workers.authentication.LockoutModelBackend"]
# API tokens expire this many hours after they are made (0: never); a new one comes from /api/auth/token/.
QUORUM_TOKEN_TTL_HOURS = env_int("QUORUM_TOKEN_TTL_HOURS", 720)
# Sign-in lockout: this many failed sign-ins for one username, or from one client address, within the window
# lock that username or address out until the window ends (429). A success clears the username's count.
QUORUM_SIGNIN_WINDOW_MINUTES = env_int("QUORUM_SIGNIN_WINDOW_MINUTES", 15)
QUORUM_SIGNIN_FAILURES_PER_USERNAME = env_int("QUORUM_SIGNIN_FAILURES_PER_USERNAME", 5)
QUORUM_SIGNIN_FAILURES_PER_ADDRESS = env_int("QUORUM_SIGNIN_FAILURES_PER_ADDRESS", 20)
# Accounts one client address may create per hour (page and API together).
QUORUM_SIGNUPS_PER_ADDRESS_PER_HOUR = env_int("QUORUM_SIGNUPS_PER_ADDRESS_PER_HOUR", 10)
# Password-reset requests per hour, from one client address and for one email address (whether or not it has an
# account): enough for someone who lost a mail, too few to fill anyone's inbox.
QUORUM_PASSWORD_RESETS_PER_ADDRESS_PER_HOUR = env_int("QUORUM_PASSWORD_RESETS_PER_ADDRESS_PER_HOUR", 10)
QUORUM_PASSWORD_RESETS_PER_EMAIL_PER_HOUR = env_int("QUORUM_PASSWORD_RESETS_PER_EMAIL_PER_HOUR", 3)
# A password-reset link works for this long (Django's default is three days).
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT_SECONDS", 3600)

# --- Mail (password resets) -------------------------------------------------------------------------------------
# Without EMAIL_HOST, mail is printed to the console (the log of `make run`), so a reset link works on one machine
# with nothing to set up; with it, mail goes out by SMTP.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587 if env_bool("EMAIL_USE_TLS", True) else 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_SECONDS", 20)  # a stuck mail server must not hold a web request forever
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Quorum <noreply@localhost>")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)

# --- API --------------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous API call gets 401 with a WWW-Authenticate header.
    # JSON nested too deeply is a 400, not a 500 (quorum/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "quorum.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "workers.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # `format` is a query parameter of the export endpoint, not a renderer override.
    "URL_FORMAT_OVERRIDE": None,
    # 429 with Retry-After past these rates (quorum/throttling.py); counted in Redis through the cache below.
    "DEFAULT_THROTTLE_CLASSES": ["quorum.throttling.AnonymousRateThrottle", "quorum.throttling.UserRateThrottle"],
    # The client address is REMOTE_ADDR, which uvicorn sets from X-Forwarded-For only for a trusted proxy
    # (FORWARDED_ALLOW_IPS). DRF's default (None) would believe any X-Forwarded-For a client sends.
    "NUM_PROXIES": 0,
    "DEFAULT_THROTTLE_RATES": {
        # every API call: per client address when anonymous, per user otherwise
        "anon": os.environ.get("QUORUM_RATE_ANON", "300/min"),
        "user": os.environ.get("QUORUM_RATE_USER", "3000/min"),
        # per user: POST /api/jobs/, POST /api/jobs/<id>/uploads/, POST /api/jobs/<id>/automation/
        "job_create": os.environ.get("QUORUM_RATE_JOB_CREATE", "600/hour"),
        "upload": os.environ.get("QUORUM_RATE_UPLOAD", "600/hour"),
        # per user: POST /api/jobs/<id>/media/ (one request may carry many files)
        "media_upload": os.environ.get("QUORUM_RATE_MEDIA_UPLOAD", "6000/hour"),
        "automation_run": os.environ.get("QUORUM_RATE_AUTOMATION_RUN", "120/hour"),
    },
}
# Request-rate counters (and anything else cached) live in Redis, so every process counts together.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": REDIS_PREFIX,
        "OPTIONS": {"pool_class": "quorum.redis_urls.CachePool"},
    }
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Quorum API",
    "DESCRIPTION": "Jobs, uploads, results and exports of a self-hosted human-computation platform.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Uploads and bucket imports share their statuses; a bucket export has one more (waiting).
    "ENUM_NAME_OVERRIDES": {
        "BucketExportStatusEnum": "tasks.models.BucketExport.Status",
        "UploadStatusEnum": "tasks.models.Upload.Status",
    },
}

# --- limits -------------------------------------------------------------------------------------------------------
QUORUM_MAX_UPLOAD_BYTES = env_int("QUORUM_MAX_UPLOAD_BYTES", 2 * 1024**3)
QUORUM_MAX_ROW_BYTES = env_int("QUORUM_MAX_ROW_BYTES", 64 * 1024)
QUORUM_MAX_ITEMS_PER_JOB = env_int("QUORUM_MAX_ITEMS_PER_JOB", 5_000_000)
# Uploaded files are deleted when their ingest ends (0), or kept this many hours and then deleted by Celery beat.
QUORUM_UPLOAD_RETENTION_HOURS = env_int("QUORUM_UPLOAD_RETENTION_HOURS", 0)

# Webhooks (docs/WEBHOOKS.md). No calls to loopback, private, link-local, multicast or reserved addresses unless
# allowed; hosts (names, or addresses and networks) may be limited to a list, and some denied.
QUORUM_WEBHOOK_ALLOW_PRIVATE = env_bool("QUORUM_WEBHOOK_ALLOW_PRIVATE", False)
QUORUM_WEBHOOK_ALLOWED_HOSTS = [
    h.strip().lower() for h in os.environ.get("QUORUM_WEBHOOK_ALLOWED_HOSTS", "").split(",") if h.strip()
]
QUORUM_WEBHOOK_DENIED_HOSTS = [
    h.strip().lower() for h in os.environ.get("QUORUM_WEBHOOK_DENIED_HOSTS", "").split(",") if h.strip()
]
QUORUM_WEBHOOK_CONNECT_TIMEOUT = float(os.environ.get("QUORUM_WEBHOOK_CONNECT_TIMEOUT", 3))
QUORUM_WEBHOOK_TIMEOUT = float(os.environ.get("QUORUM_WEBHOOK_TIMEOUT", 10))
QUORUM_WEBHOOK_MAX_RESPONSE_BYTES = env_int("QUORUM_WEBHOOK_MAX_RESPONSE_BYTES", 4096)
# Retries: BASE, BASE*3, BASE*9, ... capped at CAP, until SPAN seconds of waiting have passed.
QUORUM_WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("QUORUM_WEBHOOK_RETRY_BASE_SECONDS", 4))
QUORUM_WEBHOOK_RETRY_CAP_SECONDS = float(os.environ.get("QUORUM_WEBHOOK_RETRY_CAP_SECONDS", 3600))
QUORUM_WEBHOOK_RETRY_SPAN_SECONDS = float(os.environ.get("QUORUM_WEBHOOK_RETRY_SPAN_SECONDS", 24 * 3600))
QUORUM_WEBHOOK_MAX_ENDPOINTS = env_int("QUORUM_WEBHOOK_MAX_ENDPOINTS", 50)
# Distinct columns (item data fields) of a job, all its uploads together; the export writes every one.
QUORUM_MAX_COLUMNS = env_int("QUORUM_MAX_COLUMNS", 1000)
# Uploads always go to disk, never to memory. Under ASGI the request body is spooled first, to memory up to
# FILE_UPLOAD_MAX_MEMORY_SIZE and then to disk; 0 would mean "never roll over", a whole file in memory.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR") or None
# Every request body but an upload's: bigger ones get 413 before a byte is read (quorum/request_bodies.py).
QUORUM_MAX_REQUEST_BYTES = env_int("QUORUM_MAX_REQUEST_BYTES", DATA_UPLOAD_MAX_MEMORY_SIZE)

# --- media (tasks/media.py) ---------------------------------------------------------------------------------------
# A job's images, audio and video, sent in a zip archive with the data or to POST /api/jobs/<id>/media/, are kept
# through Django's storage API (STORAGES["default"]: files under MEDIA_ROOT unless configured otherwise).
# An archive: at most this many bytes once unpacked (all its files together, as its directory declares them and as
# they are counted while unpacked), this many files, and no file larger than 1 MiB that unpacks to more than this
# many times its packed size (a zip bomb).
QUORUM_MAX_MEDIA_BYTES = env_int("QUORUM_MAX_MEDIA_BYTES", 4 * 1024**3)
QUORUM_MAX_MEDIA_FILES = env_int("QUORUM_MAX_MEDIA_FILES", 100_000)
QUORUM_MAX_MEDIA_RATIO = env_int("QUORUM_MAX_MEDIA_RATIO", 100)
# One media file (in an archive or sent alone).
QUORUM_MAX_MEDIA_FILE_BYTES = env_int("QUORUM_MAX_MEDIA_FILE_BYTES", 256 * 1024**2)
# Origins ("https://host[:port]") whose http(s) URLs any job's media columns may name, besides a job's own
# ``media_origins``; browsers are allowed to load media from them (Content-Security-Policy img-src/media-src).
QUORUM_MEDIA_ORIGINS = [o.strip() for o in os.environ.get("QUORUM_MEDIA_ORIGINS", "").split(",") if o.strip()]
# Signed media URLs: a worker's lives as long as their lease, and at most this long; a requester's this long.
QUORUM_MEDIA_WORKER_URL_SECONDS = env_int("QUORUM_MEDIA_WORKER_URL_SECONDS", 900)
QUORUM_MEDIA_VIEWER_URL_SECONDS = env_int("QUORUM_MEDIA_VIEWER_URL_SECONDS", 3600)
# PostgreSQL connections per ASGI process for the media endpoint's lookups (quorum/media_serving.py), each running
# one batch of lookups at a time.
QUORUM_MEDIA_LOOKUP_CONNECTIONS = env_int("QUORUM_MEDIA_LOOKUP_CONNECTIONS", 2)

# --- storage (docs/STORAGE.md) -----------------------------------------------------------------------------------
# Where media files, kept upload files and nothing else of Quorum's live: "local" (MEDIA_ROOT on this machine, the
# default) or "s3" (one S3-compatible bucket: AWS, MinIO, Ceph, ...). The code reads files only through Django's
# storage API and tasks/storage.py, so this switch is all a deployment changes.
QUORUM_STORAGE = os.environ.get("QUORUM_STORAGE", "local").strip().lower()
# Every call to a bucket (the deployment's, or a job's import source and export destination) gives up after these
# timeouts and this many attempts: a bucket that does not answer ends a Celery job with an error, never hangs it.
QUORUM_S3_CONNECT_TIMEOUT = env_int("QUORUM_S3_CONNECT_TIMEOUT", 5)
QUORUM_S3_READ_TIMEOUT = env_int("QUORUM_S3_READ_TIMEOUT", 60)
QUORUM_S3_MAX_ATTEMPTS = env_int("QUORUM_S3_MAX_ATTEMPTS", 3)
if QUORUM_STORAGE == "s3":
    from botocore.config import Config as _S3Config

    AWS_STORAGE_BUCKET_NAME = os.environ["AWS_STORAGE_BUCKET_NAME"]
    AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL") or None
    AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME") or None
    # Unset: boto3's own chain (instance role, ~/.aws, AWS_* variables it reads itself).
    AWS_S3_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID") or None
    AWS_S3_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY") or None
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": AWS_STORAGE_BUCKET_NAME,
                "endpoint_url": AWS_S3_ENDPOINT_URL,
                "region_name": AWS_S3_REGION_NAME,
                "access_key": AWS_S3_ACCESS_KEY_ID,
                "secret_key": AWS_S3_SECRET_ACCESS_KEY,
                "location": os.environ.get("QUORUM_S3_LOCATION", ""),
                # Objects stay private: browsers get media through Quorum's signed URLs, which stream from here.
                "default_acl": None,
                "querystring_auth": True,
                # Names are random already; never ask the bucket whether one exists.
                "file_overwrite": True,
                # A file read through the storage API rolls over to disk past 1 MiB, never whole in memory.
                "max_memory_size": 1024 * 1024,
                "client_config": _S3Config(
                    connect_timeout=QUORUM_S3_CONNECT_TIMEOUT,
                    read_timeout=QUORUM_S3_READ_TIMEOUT,
                    retries={"max_attempts": QUORUM_S3_MAX_ATTEMPTS, "mode": "standard"},
                    signature_version="s3v4",
                ),
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
elif QUORUM_STORAGE != "local":
    raise ValueError(f"QUORUM_STORAGE is {QUORUM_STORAGE!r}; use 'local' or 's3'")
# Endpoints a job's import source or export destination may name (comma-separated, "https://host[:port]"), besides
# AWS itself (no endpoint) and the deployment's own AWS_S3_ENDPOINT_URL: the Celery worker connects wherever a
# requester says, so anything else (an address inside this network) is refused.
QUORUM_BUCKET_ENDPOINTS = [o.strip() for o in os.environ.get("QUORUM_BUCKET_ENDPOINTS", "").split(",") if o.strip()]
# One bucket import: at most this many objects under the prefix.
QUORUM_BUCKET_MAX_FILES = env_int("QUORUM_BUCKET_MAX_FILES", 1000)
# An import or export left "running" this long by a Celery worker that died is ended "failed" when its message is
# delivered again (tasks/buckets/runs.py).
QUORUM_BUCKET_STALE_SECONDS = env_int("QUORUM_BUCKET_STALE_SECONDS", 900)


# --- operations: logs, metrics, errors (docs/OPERATIONS.md) ----------------------------------------------------------
# "json": one JSON object per line (time, level, logger, message, request_id, user, job, task_id, exception);
# "text": the message alone. Both on stderr.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ValueError(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "quorum.logs.ContextFilter"}},
    "formatters": {"json": {"()": "quorum.logs.JsonFormatter"}, "text": {"format": "%(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["context"], "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # Beat sends housekeeping every 2 seconds: three INFO lines each (sent, received, succeeded) would bury
        # the launcher's banner and every line worth reading. The tasks log what they did themselves.
        "celery.beat": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        # A line per HTTP request (method, path, status, duration) where lines are read by machines.
        "quorum.request": {"level": "INFO" if LOG_FORMAT == "json" else "WARNING"},
    },
}
if LOG_FORMAT == "json":
    # uvicorn configured its own handlers before Django started: its lines become JSON lines too.
    for _name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        LOGGING["loggers"][_name] = {"handlers": ["console"], "level": "INFO", "propagate": False}
# GET /metrics (Prometheus text format) answers a staff session, or this token as "Authorization: Bearer <token>".
# Unset: staff sessions only. Multiprocess figures: PROMETHEUS_MULTIPROC_DIR (quorum/metrics.py reads it).
QUORUM_METRICS_TOKEN = os.environ.get("QUORUM_METRICS_TOKEN", "")
if QUORUM_METRICS_TOKEN and len(QUORUM_METRICS_TOKEN) < 24:
    raise ValueError("QUORUM_METRICS_TOKEN must be at least 24 characters (e.g. `openssl rand -hex 24`)")
# Errors and slow transactions to Sentry (Django and Celery); unset: the SDK is not even imported.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    from quorum.error_reports import sentry_start

    sentry_start(
        SENTRY_DSN,
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", 0)),
        send_default_pii=env_bool("SENTRY_SEND_DEFAULT_PII", False),
    )


SPECTACULAR_SETTINGS.update(
    {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"}
)
# Static files straight from the source folders: no collectstatic step before `make run`.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
# STATIC_ROOT is filled by collectstatic in the container image only; finders serve files everywhere else.
warnings.filterwarnings("ignore", message="No directory at")
# /ws/echo/: a bare Channels echo consumer, the ceiling bench/crowd.py compares the scheduler with. Off by default.
QUORUM_ECHO_ENDPOINT = env_bool("QUORUM_ECHO_ENDPOINT", False)
