"""tests.settings with Celery beat's whole schedule every 2 seconds instead of every
minute or hour: for the tests that kill beat or run two at once (make chaos)."""

from tests.settings import *  # noqa: F403
from tests.settings import CELERY_BEAT_SCHEDULE

EVERY = 2.0
CELERY_BEAT_SCHEDULE = {
    name: {**entry, "schedule": EVERY, "options": {"expires": 10 * EVERY}}
    for name, entry in CELERY_BEAT_SCHEDULE.items()
}
