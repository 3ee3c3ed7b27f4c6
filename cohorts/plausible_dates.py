"""Plausible dates: a typo such as 1068 or 9999 is a field error, never a 500 or a silent plan.

Used as model field validators, so the API, the admin and the CSV import all
refuse the same dates with the same words.
"""

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.utils.timezone import localdate

EARLIEST_BIRTH = date(1900, 1, 1)
EARLIEST_TREATMENT = date(1950, 1, 1)
EARLIEST_ENROLMENT = date(2000, 1, 1)
# How far ahead a date of the plan may be set: a year for enrolment and the end of
# treatment (both may be planned ahead), two years for a pause of reminders.
YEAR = timedelta(days=366)


def _between(value: date, earliest: date, latest: date, what: str) -> None:
    if not earliest <= value <= latest:
        raise ValidationError(
            f"{what} must be between {earliest:%Y-%m-%d} and {latest:%Y-%m-%d}.", code="implausible"
        )


def birth_date(value: date) -> None:
    _between(value, EARLIEST_BIRTH, localdate() - timedelta(days=1), "A date of birth")


def treatment_date(value: date) -> None:
    _between(value, EARLIEST_TREATMENT, localdate() + YEAR, "A treatment date")


def enrolment_date(value: date) -> None:
    _between(value, EARLIEST_ENROLMENT, localdate() + YEAR, "An enrolment date")


def pause_end(value: date) -> None:
    _between(value, EARLIEST_ENROLMENT, localdate() + 2 * YEAR, "The end of a pause")
