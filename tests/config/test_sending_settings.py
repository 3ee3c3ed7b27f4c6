"""Sending settings are checked at start-up: a bad value stops the process with a clear message."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_with(code: str = "import config.settings", **env) -> subprocess.CompletedProcess:
    """Load the settings in a fresh interpreter, as a starting process would (then `code`)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SMS_DAILY_CAP": "0"}, "SMS_DAILY_CAP must be at least 1, not 0"),
        ({"SMS_WEEKLY_CAP": "-1"}, "SMS_WEEKLY_CAP must be at least 1, not -1"),
        ({"SMS_DAILY_CAP": "4", "SMS_WEEKLY_CAP": "3"}, "SMS_WEEKLY_CAP must be at least"),
        ({"SMS_MAX_ATTEMPTS": "0"}, "SMS_MAX_ATTEMPTS must be at least 1"),
        ({"SMS_RATE_PER_SECOND": "-5"}, "SMS_RATE_PER_SECOND must be at least 0"),
        ({"SMS_DAILY_CAP": "one"}, "SMS_DAILY_CAP must be an integer"),
    ],
)
def test_a_bad_sending_setting_stops_start_up_and_says_which(env, message):
    started = start_with(**env)

    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr
    assert message in started.stderr


def test_good_sending_settings_start():
    assert start_with(SMS_DAILY_CAP="2", SMS_WEEKLY_CAP="5").returncode == 0


def test_the_phone_simulator_is_refused_where_sms_really_go():
    twilio = {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "secret",
        "TWILIO_FROM_NUMBER": "+15005550006",
    }

    refused = start_with(**twilio, PHONE_SIMULATOR="true")
    off_by_default = start_with(
        "from config import settings; print(settings.PHONE_SIMULATOR)", **twilio
    )

    assert refused.returncode != 0
    assert "PHONE_SIMULATOR is for development" in refused.stderr
    assert off_by_default.stdout.strip() == "False"
