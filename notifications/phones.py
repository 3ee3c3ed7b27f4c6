"""Mobile numbers: parsed, validated and stored as E.164 with `phonenumbers`."""

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

_TEXTABLE = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def to_e164(raw: str, region: str | None = None) -> str:
    """Normalise a number typed by a person into E.164, or raise ValidationError.

    Numbers without a country code are read in PHONE_DEFAULT_REGION. Numbers
    that can never receive an SMS (landlines, premium lines) are refused here,
    at enrolment, rather than failing silently at the first reminder.
    """
    try:
        number = phonenumbers.parse(raw, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"Not a phone number: {exc}", code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Not a valid phone number.", code="invalid_phone")
    if phonenumbers.number_type(number) not in _TEXTABLE:
        raise ValidationError("Not a mobile number: it cannot receive SMS.", code="not_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    """Model-field validator: the stored value must already be E.164."""
    if to_e164(value) != value:
        raise ValidationError("Store phone numbers in E.164 form, e.g. +12015550123.")
