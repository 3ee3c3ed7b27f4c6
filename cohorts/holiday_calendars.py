"""Each site's public holidays, from the `holidays` package: country and subdivision.

Review deadlines count business days; a public holiday of the site's country
(and state or region) is not one. Local closures on top of these are kept by
admins (`surveillance.Holiday`, per site).
"""

from datetime import date
from functools import cache

import holidays
from django.core.exceptions import ValidationError


@cache
def _supported() -> dict[str, list[str]]:
    return holidays.list_supported_countries()


def validate_country(value: str) -> None:
    if value not in _supported():
        raise ValidationError(
            f"{value!r} is not a country code with a public holiday calendar (e.g. US, ES, GB).",
            code="invalid_country",
        )


def validate_subdivision(country: str, subdivision: str) -> None:
    if subdivision not in _supported().get(country, []):
        raise ValidationError(
            {"subdivision": f"{subdivision!r} is not a subdivision of {country}."},
            code="invalid_subdivision",
        )


@cache
def _year(country: str, subdivision: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


def public_holidays(country: str, subdivision: str, start: date, end: date) -> set[date]:
    """The public holidays from `start` to `end` (inclusive) in that country and subdivision."""
    if not country:
        return set()
    days = set()
    for year in range(start.year, end.year + 1):
        days |= {day for day in _year(country, subdivision, year) if start <= day <= end}
    return days
