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


def validate_sms_safe(value: str) -> None:
    """Text that goes into patients' SMS (the site name) must not name a diagnosis."""
    from notifications.sms_templates import DIAGNOSIS_WORDS

    found = [word for word in DIAGNOSIS_WORDS if word in value.lower()]
    if found:
        raise ValidationError(
            f"This name is sent in SMS to patients and must not contain {found[0]!r}; "
            "use the hospital's short name.",
            code="diagnosis_word",
        )
