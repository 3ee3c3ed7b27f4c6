import pytest
import time_machine

# The bundles' dates (treatment ended January 2026) seen from a fixed day.
TODAY = "2026-12-01 12:00:00+00:00"


@pytest.fixture(autouse=True)
def fixed_day():
    with time_machine.travel(TODAY, tick=True):
        yield
