from functools import cache
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError

from .sms_templates import names_a_diagnosis


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_time_zone(value: str) -> None:
    """An IANA time zone name, such as Europe/Madrid or America/New_York."""
    if value not in _time_zones():
        raise ValidationError(f"{value!r} is not an IANA time zone.", code="invalid_time_zone")


def validate_sms_safe(value: str) -> None:
    """Text that goes into patients' SMS (a site's name, a visit's place) must not name a
    diagnosis: SMS is read on lock screens and by others."""
    found = names_a_diagnosis(value)
    if found:
        raise ValidationError(
            f"This text is sent in SMS to patients and must not contain {found!r}; "
            "use a neutral name (the hospital's short name, a room or building).",
            code="diagnosis_word",
        )
