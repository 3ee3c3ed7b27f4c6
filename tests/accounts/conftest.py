import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


class Authenticator:
    """The user's phone app: the code it shows now."""

    def __init__(self, device: TOTPDevice):
        self.device = device

    def current_code(self) -> str:
        totp = TOTP(self.device.bin_key, self.device.step, self.device.t0, self.device.digits)
        return f"{totp.token():0{self.device.digits}d}"


@pytest.fixture
def two_factor_device():
    def enrol(user) -> Authenticator:
        return Authenticator(TOTPDevice.objects.create(user=user, name="app", confirmed=True))

    return enrol
