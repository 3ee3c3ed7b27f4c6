"""Settings, read from the environment (12-factor).

Every variable is optional: without any, the service runs embedded on one
machine (SQLite and a file-system Celery broker under var/, console SMS). The
variables in docs/contracts.md switch it to PostgreSQL, Redis and Twilio.
"""

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_float, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
EMBEDDED = not env_str("DATABASE_URL")


def _secret_key() -> str:
    """SECRET_KEY from the environment; the embedded demo keeps its own in var/.

    A deployment (any DATABASE_URL) must set it: a key generated per container
    would log everybody out on every restart and differ between web processes.
    """
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured("SECRET_KEY must be set when DATABASE_URL is set")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    # Only until its plain-text tokens are hashed into accounts.ApiToken (accounts 0002).
    "rest_framework.authtoken",
    "knox",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "csp",
    "django_htmx",
    # Ours, from the bottom layer up (each imports only those above it in this list).
    "notifications",
    "audit",
    "cohorts",
    "accounts",
    "scheduling",
    "surveillance",
    "records",
    "fhir_r4",
    "staff",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: it answers for locked-out logins.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded demo runs web, worker and beat against one file: WAL lets
    # readers and the single writer proceed together, IMMEDIATE avoids
    # deadlocked upgrades from read to write locks.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out user before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lock a username at an address after repeated failed logins: one user's typos
# do not lock out everyone behind the same clinic address.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("LOGIN_LOCKOUT_MINUTES", 30) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "audit.addresses.client_address"

# API tokens (django-rest-knox, accounts.ApiToken): hashed at rest, one per device,
# expiring API_TOKEN_DAYS after they were issued.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 30, minimum=1)
KNOX_TOKEN_MODEL = "accounts.ApiToken"
# knox's own migrations would create its default token table, unused once swapped: skip them.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {"TOKEN_TTL": timedelta(days=API_TOKEN_DAYS), "AUTH_HEADER_PREFIX": "Token"}

# Two-factor sign-in (django-otp, TOTP): the roles that must use it, or "everyone".
# "none": nobody (the embedded demo on localhost, `make run`).
TWO_FACTOR_REQUIRED = env_list("TWO_FACTOR_REQUIRED", "superuser,admin,clinical_lead")
_TWO_FACTOR_CHOICES = {"superuser", "admin", "clinical_lead", "coordinator", "everyone", "none"}
if set(TWO_FACTOR_REQUIRED) - _TWO_FACTOR_CHOICES:
    raise ImproperlyConfigured(
        f"TWO_FACTOR_REQUIRED: {sorted(set(TWO_FACTOR_REQUIRED) - _TWO_FACTOR_CHOICES)} are not "
        f"among {sorted(_TWO_FACTOR_CHOICES)}"
    )
OTP_TOTP_ISSUER = "Skin-surveillance follow-up"
# Password reset e-mails: at most this many an hour per client address and per e-mail address.
PASSWORD_RESET_PER_HOUR = env_int("PASSWORD_RESET_PER_HOUR", 5, minimum=1)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.locked_out"  # JSON for the API, the page for the web
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation -------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

# --- Security ---------------------------------------------------------------------
# HTTPS_ONLY is on unless asked off: only the embedded demo on localhost and
# the test suite run over plain HTTP.
HTTPS_ONLY = env_bool("HTTPS_ONLY", True)
SECURE_SSL_REDIRECT = HTTPS_ONLY
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]  # load balancers probe over plain HTTP
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The reverse proxies in front of the service (addresses or networks): only from them is
# X-Forwarded-For believed, for rate limits, the sign-in lockout and the audit trail
# (audit/addresses.py). Empty: the TCP peer is the client.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content Security Policy: our own scripts, styles and images only; no inline
# scripts, no framing. Swagger UI and the admin run under it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Error reports show which code failed, never a patient's data.
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.phi.PHIExceptionReporterFilter"

# --- Cache (API rate limits, login lockouts) -------------------------------------
# Rate limits must be shared by every web process: set CACHE_URL to Redis in
# any deployment with more than one process.
CACHE_URL = env_str("CACHE_URL")
# How long one cache call may wait to connect, and then for Redis's answer: a Redis
# host that drops packets costs a request this long per call, never a hang (every
# cache use carries on without the cache when it fails).
CACHE_TIMEOUT_SECONDS = env_float("CACHE_TIMEOUT_SECONDS", 1.0, minimum=0.01)
CACHE_REDIS_OPTIONS = {
    "socket_connect_timeout": CACHE_TIMEOUT_SECONDS,
    "socket_timeout": CACHE_TIMEOUT_SECONDS,
}
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "OPTIONS": CACHE_REDIS_OPTIONS,
        }
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- REST API -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.IdsFirstPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per user (or per address when anonymous), and per address for everyone;
    # a 429 carries Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "config.throttling.AnonymousRateThrottle",
        "config.throttling.SignedInRateThrottle",
        "config.throttling.AddressRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_RATE_ANON", "60/min"),
        "user": env_str("API_RATE_USER", "600/min"),
        "address": env_str("API_RATE_ADDRESS", "1200/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Skin-surveillance follow-up API",
    "DESCRIPTION": "Cohorts, risk tiers, follow-up schedules, SMS and lesion flags.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our own static files: no CDN, works offline and under a CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TierEnum": "cohorts.models.TIER_CHOICES",
        "ReceptorEnum": "cohorts.models.RECEPTOR_CHOICES",
        "WithdrawalReasonEnum": "cohorts.models.Patient.WithdrawalReason",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema_errors.declare_errors",
    ],
}

# --- Celery -----------------------------------------------------------------------
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded single-machine broker: messages are files under var/broker.
    for sub in ("queue", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        # Exchange bindings too, or kombu writes them into the working directory.
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
    _DEFAULT_RESULT_BACKEND = f"file://{VAR_DIR / 'celery-results'}"
    (VAR_DIR / "celery-results").mkdir(exist_ok=True)
else:
    # Tasks are acknowledged late: a message whose worker died is re-delivered
    # after the visibility timeout, and the task's own claim makes it idempotent.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    _DEFAULT_RESULT_BACKEND = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", _DEFAULT_RESULT_BACKEND) or None
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "surveillance")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    name: {"task": task, "schedule": seconds, "options": {"expires": seconds - 5}}
    for name, task, seconds in [
        ("scheduler-heartbeat", "scheduling.tasks.record_heartbeat", 60.0),
        ("due-sweep", "scheduling.tasks.sweep_due", 60.0),
        ("dispatch-due", "notifications.tasks.dispatch_due", 60.0),
        ("reconcile-stale-messages", "notifications.tasks.reconcile_stale_messages", 60.0),
        ("route-unrouted-messages", "notifications.tasks.route_unrouted_messages", 300.0),
        ("escalate-overdue-flags", "surveillance.tasks.escalate_overdue_flags", 60.0),
        ("close-expired-questionnaires", "surveillance.tasks.close_expired_questionnaires", 60.0),
        ("daily-digest", "surveillance.tasks.send_daily_digests", 3600.0),
        ("expire-fhir-exports", "fhir_r4.tasks.expire_bulk_exports", 3600.0),
        ("apply-retention", "records.tasks.apply_retention", 3600.0),
    ]
}
# How long without a beat before /healthz reports the scheduler as stale.
SCHEDULER_STALE_AFTER_SECONDS = env_int("SCHEDULER_STALE_AFTER_SECONDS", 180)

# How often the Today list's flags section reloads itself (new urgent flags appear).
STAFF_REFRESH_SECONDS = 30

# Numbers typed without a country code are read in this region (ISO 3166 code).
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "US")

# --- FHIR R4 (docs/fhir.md) ---------------------------------------------------------
# The identifier system our MRNs carry in exported Patients.
FHIR_MRN_SYSTEM = env_str("FHIR_MRN_SYSTEM", "urn:skin-surveillance:mrn")
# Bulk export files: written by workers, served by the web, so shared by both.
FHIR_EXPORT_DIR = Path(env_str("FHIR_EXPORT_DIR") or MEDIA_ROOT / "fhir-exports")
FHIR_EXPORT_TTL_HOURS = env_int("FHIR_EXPORT_TTL_HOURS", 24, minimum=1)
FHIR_IMPORT_MAX_BYTES = env_int("FHIR_IMPORT_MAX_BYTES", 20 * 1024 * 1024, minimum=1)

# --- SMS --------------------------------------------------------------------------
SMS_BACKEND = env_str("SMS_BACKEND", "console")
if SMS_BACKEND not in {"console", "locmem", "twilio"}:
    raise ImproperlyConfigured(
        f"SMS_BACKEND must be console, locmem or twilio, not {SMS_BACKEND!r}"
    )
# A page where anyone signed in plays a patient's phone (development: console SMS only).
PHONE_SIMULATOR = env_bool("PHONE_SIMULATOR", SMS_BACKEND == "console")
if PHONE_SIMULATOR and SMS_BACKEND == "twilio":
    raise ImproperlyConfigured("PHONE_SIMULATOR is for development: not with SMS_BACKEND=twilio")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER")
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID")
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL")
TWILIO_TIMEOUT_SECONDS = env_int("TWILIO_TIMEOUT_SECONDS", 10)
# Sending rules: at most SMS_DAILY_CAP routine SMS a day and SMS_WEEKLY_CAP a
# week per patient; SMS_RATE_PER_SECOND per sender across all workers (0: no
# limit); SMS_MAX_ATTEMPTS tries; a `sending` lease of SMS_LEASE_SECONDS.
SMS_DAILY_CAP = env_int("SMS_DAILY_CAP", 1, minimum=1)
SMS_WEEKLY_CAP = env_int("SMS_WEEKLY_CAP", 3, minimum=1)
SMS_RATE_PER_SECOND = env_int("SMS_RATE_PER_SECOND", 1, minimum=0)
SMS_MAX_ATTEMPTS = env_int("SMS_MAX_ATTEMPTS", 6, minimum=1)
SMS_LEASE_SECONDS = env_int("SMS_LEASE_SECONDS", 300, minimum=1)
# The first retry waits about this long; each further one doubles it (max an hour).
SMS_RETRY_BASE_SECONDS = env_int("SMS_RETRY_BASE_SECONDS", 30, minimum=1)
# Dispatch: due messages go to the workers SMS_DISPATCH_BATCH ids per task; a worker
# process sends a batch over SMS_SEND_THREADS concurrent HTTP requests.
SMS_DISPATCH_BATCH = env_int("SMS_DISPATCH_BATCH", 50, minimum=1)
SMS_SEND_THREADS = env_int("SMS_SEND_THREADS", 8, minimum=1)
if SMS_WEEKLY_CAP < SMS_DAILY_CAP:
    raise ImproperlyConfigured("SMS_WEEKLY_CAP must be at least SMS_DAILY_CAP")
if SMS_LEASE_SECONDS < 3 * TWILIO_TIMEOUT_SECONDS:
    # A lease shorter than a slow send would let reconciliation re-queue a message
    # that Twilio may still accept: the patient would get it twice.
    raise ImproperlyConfigured("SMS_LEASE_SECONDS must be at least 3 x TWILIO_TIMEOUT_SECONDS")
if SMS_BACKEND == "twilio" and not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN):
    raise ImproperlyConfigured("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
if SMS_BACKEND == "twilio" and not (TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID):
    raise ImproperlyConfigured(
        "SMS_BACKEND=twilio needs TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"
    )

# --- Lesion reports and flags -------------------------------------------------------
# Review deadlines in business days (weekends and Holiday rows skipped).
FLAG_REVIEW_BUSINESS_DAYS = {"urgent": 1, "routine": 3}
# An urgent flag is also texted to this on-call number (E.164), if set.
ONCALL_SMS_NUMBER = env_str("ONCALL_SMS_NUMBER")
# An unfinished SMS questionnaire becomes an (incomplete) report after this long.
QUESTIONNAIRE_TIMEOUT_HOURS = env_int("QUESTIONNAIRE_TIMEOUT_HOURS", 24)
# How long a one-time web report link stays valid, and the largest photo accepted.
REPORT_LINK_HOURS = env_int("REPORT_LINK_HOURS", 72)
LESION_PHOTO_MAX_BYTES = env_int("LESION_PHOTO_MAX_BYTES", 8 * 1024 * 1024)
# The local hour (in each coordinator's first cohort's zone) the daily digest goes out.
DIGEST_HOUR = env_int("DIGEST_HOUR", 7)

# --- Retention (docs/retention.md) --------------------------------------------------
# Days after a patient's withdrawal (`withdrawn_on`) before beat's hourly
# `apply_retention` erases their identity, their SMS texts and their lesion photos.
RETAIN_IDENTITY_DAYS = env_int("RETAIN_IDENTITY_DAYS", 3650, minimum=0)
RETAIN_MESSAGE_BODIES_DAYS = env_int("RETAIN_MESSAGE_BODIES_DAYS", 730, minimum=0)
RETAIN_PHOTOS_DAYS = env_int("RETAIN_PHOTOS_DAYS", 3650, minimum=0)

# --- E-mail (urgent alerts, escalations, digests) -------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "surveillance@localhost")

# --- Logging ----------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact_phi": {"()": "config.phi.RedactPHIFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_phi"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # At INFO the SDK logs request URLs, which carry patients' numbers.
        "twilio.http_client": {"level": "WARNING"},
    },
}
