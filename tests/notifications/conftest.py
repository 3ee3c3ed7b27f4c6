"""The fake Twilio provider and a frozen clock, for the dispatch tests that use the real SDK."""

from datetime import timedelta

import pytest

from notifications.backends import get_backend
from tests.fake_twilio import FAKE_FROM_NUMBER, FakeTwilio

MORNING = "2026-06-01 14:00Z"  # 10:00 in New York
PUBLIC_BASE_URL = "https://surveillance.example.org"
STATUS_CALLBACK = PUBLIC_BASE_URL + "/webhooks/twilio/status/"
LEASE = timedelta(seconds=300)


@pytest.fixture
def clock(time_machine):
    """Frozen at MORNING; `clock.shift(...)` moves it (for Python and the fake alike)."""
    time_machine.move_to(MORNING, tick=False)
    return time_machine


@pytest.fixture
def fake(settings, clock):
    """The fake Twilio API, with the twilio backend pointed at it."""
    with FakeTwilio(timeout_delay=2.0) as fake:
        fake.apply_settings(
            settings,
            SMS_BACKEND="twilio",
            TWILIO_FROM_NUMBER=FAKE_FROM_NUMBER,
            TWILIO_MESSAGING_SERVICE_SID="",
            TWILIO_TIMEOUT_SECONDS=1,
            SMS_RATE_PER_SECOND=0,
            SMS_LEASE_SECONDS=int(LEASE.total_seconds()),
            SMS_RETRY_BASE_SECONDS=30,
            SMS_MAX_ATTEMPTS=6,
            PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        )
        get_backend.cache_clear()
        yield fake
    get_backend.cache_clear()
