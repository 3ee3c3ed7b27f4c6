"""Settings for the test suite: the real services on loopback.

The defaults point at the PostgreSQL and Redis that `make test` expects on
127.0.0.1; any of them can still be overridden from the environment.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/surveillance")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", "surveillance-tests")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-any-deployment-000000")
os.environ.setdefault("HTTPS_ONLY", "false")
os.environ.setdefault("SMS_BACKEND", "locmem")
# The per-sender limit waits on the wall clock, which frozen-time tests stop:
# tests/notifications/test_sender_rate.py checks it with a clock of its own.
os.environ.setdefault("SMS_RATE_PER_SECOND", "0")
os.environ.setdefault(
    "VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test")
)

from config.settings import *  # noqa: E402,F403

# SMS stay in memory here, as with the console: the phone simulator's page is mounted.
# (Set here, not in the environment: worker subprocesses that send through the fake
# Twilio inherit the environment, and settings refuse the simulator with Twilio.)
PHONE_SIMULATOR = True

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Most tests sign staff in with force_login and no second factor; tests/accounts set the
# production default (config.settings) and prove the enforcement.
TWO_FACTOR_REQUIRED = []
