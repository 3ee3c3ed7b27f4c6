"""Two-factor sign-in with TOTP (django-otp), and one-time recovery codes.

Who must use it is a setting, `TWO_FACTOR_REQUIRED`: a list of roles
(`superuser`, `admin`, `clinical_lead`, `coordinator`) or `everyone`; by
default superusers, admins and clinical leads. Anyone else may enrol, and
once enrolled is always asked for a code. A code is asked after the password,
on the web (`views.verify`) and when an API token is issued.
"""

from django.conf import settings
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10


def required_for(user) -> bool:
    """Whether the settings make this user sign in with a second factor."""
    wanted = set(settings.TWO_FACTOR_REQUIRED)
    if "everyone" in wanted or (user.is_superuser and "superuser" in wanted):
        return True
    return user.groups.filter(name__in=wanted).exists()


def enrolled(user) -> bool:
    """Whether the user has a confirmed authenticator (or recovery codes)."""
    return user_has_device(user, confirmed=True)


def asked_of(user) -> bool:
    """Whether a code is asked of this user: required, or enrolled of their own accord."""
    return enrolled(user) or required_for(user)


def verify(user, code: str):
    """The device (authenticator app or recovery code) that accepts `code`, or None."""
    code = "".join((code or "").split())
    for device in devices_for_user(user, confirmed=True, for_verify=True):
        if device.verify_token(code):
            return device
    return None


def start_enrolment(user) -> TOTPDevice:
    """The user's unconfirmed authenticator, new or the one they already began."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def confirm(device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the authenticator with its first code; new recovery codes, or None if wrong."""
    if not device.verify_token("".join((code or "").split())):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return new_recovery_codes(device.user)


def new_recovery_codes(user) -> list[str]:
    """Replace the user's recovery codes: each works once, instead of the app."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name="Recovery codes")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    device.token_set.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes
