from functools import cache
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_time_zone(value: str) -> None:
    """An IANA time zone name, such as Europe/Madrid or America/New_York."""
    if value not in _time_zones():
        raise ValidationError(f"{value!r} is not an IANA time zone.", code="invalid_time_zone")
