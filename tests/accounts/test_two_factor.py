"""Two-factor sign-in: required for superusers, admins and clinical leads (a setting can
require it of everyone), optional for coordinators; recovery codes; wrong codes lock."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import two_factor
from audit.models import AuditEvent
from tests.factories import STAFF_PASSWORD, UserFactory, with_password

pytestmark = [pytest.mark.django_db]

PASSWORD = STAFF_PASSWORD
DEFAULT = ["superuser", "admin", "clinical_lead"]


@pytest.fixture(autouse=True)
def production_default(settings):
    settings.TWO_FACTOR_REQUIRED = DEFAULT


def user_with_password(**options):
    return with_password(UserFactory(is_staff=True, **options))


def signed_in(user) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


def code_for(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    return f"{totp.token():0{device.digits}d}"


@pytest.mark.parametrize(
    "options", [{"role": "clinical_lead"}, {"role": "admin"}, {"is_superuser": True}]
)
def test_a_required_user_must_enrol_before_anything_else(options):
    client = signed_in(user_with_password(**options))

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/two-factor/setup/")


def test_a_coordinator_may_work_without_it():
    client = signed_in(user_with_password(role="coordinator"))

    assert client.get("/admin/").status_code == 200


def test_a_setting_requires_it_of_everyone(settings):
    settings.TWO_FACTOR_REQUIRED = ["everyone"]
    client = signed_in(user_with_password(role="coordinator"))

    assert client.get("/admin/").headers["Location"].startswith("/accounts/two-factor/setup/")


def test_enrolment_confirms_the_app_and_shows_recovery_codes_once():
    lead = user_with_password(role="clinical_lead")
    client = signed_in(lead)

    page = client.get("/accounts/two-factor/setup/")
    assert b'src="data:image/svg+xml;base64,' in page.content
    device = TOTPDevice.objects.get(user=lead)
    wrong = client.post("/accounts/two-factor/setup/", {"code": "000000"})
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):  # past the retry delay
        done = client.post("/accounts/two-factor/setup/", {"code": code_for(device)})
        assert client.get("/admin/").status_code == 200

    assert b"not right" in wrong.content
    codes = re.findall(r"<code>(\w+)</code>", done.content.decode())
    assert len(codes) == 10
    assert AuditEvent.objects.filter(object_type="two_factor", action="create").exists()


def test_signing_in_again_asks_for_a_code_and_takes_a_recovery_code_once():
    lead = user_with_password(role="clinical_lead")
    client = signed_in(lead)
    client.get("/accounts/two-factor/setup/")
    device = TOTPDevice.objects.get(user=lead)
    done = client.post("/accounts/two-factor/setup/", {"code": code_for(device)})
    recovery = re.findall(r"<code>(\w+)</code>", done.content.decode())[0]

    again = signed_in(lead)
    asked = again.get("/admin/")
    accepted = again.post("/accounts/verify/", {"code": recovery, "next": "/admin/"})
    third = signed_in(lead)
    reused = third.post("/accounts/verify/", {"code": recovery})

    assert asked.headers["Location"].startswith("/accounts/verify/")
    assert (accepted.status_code, accepted.headers["Location"]) == (302, "/admin/")
    assert again.get("/admin/").status_code == 200
    assert reused.status_code == 200 and b"not right" in reused.content


def test_a_coordinator_who_enrolled_is_asked_too(two_factor_device):
    coordinator = user_with_password(role="coordinator")
    two_factor_device(coordinator)
    client = signed_in(coordinator)

    assert client.get("/admin/").headers["Location"].startswith("/accounts/verify/")


def test_wrong_codes_lock_the_sign_in(two_factor_device):
    lead = user_with_password(role="clinical_lead")
    app = two_factor_device(lead)
    client = signed_in(lead)

    for _ in range(5):
        client.post("/accounts/verify/", {"code": "000000"})
    locked = signed_in_or_status(lead)
    late = client.post("/accounts/verify/", {"code": app.current_code()})

    assert locked == 429
    assert late.status_code == 429


def signed_in_or_status(user) -> int:
    return (
        Client()
        .post("/accounts/login/", {"username": user.username, "password": PASSWORD})
        .status_code
    )


def test_a_superuser_resets_a_second_factor_by_deleting_the_devices_in_the_admin(
    two_factor_device,
):
    lead = user_with_password(role="clinical_lead")
    two_factor_device(lead)
    two_factor.new_recovery_codes(lead)  # the phone is lost, and the codes with it
    root = user_with_password(is_superuser=True)
    root_app = two_factor_device(root)
    admin = signed_in(root)
    admin.post("/accounts/verify/", {"code": root_app.current_code()})

    for device in (TOTPDevice.objects.get(user=lead), StaticDevice.objects.get(user=lead)):
        page = f"/admin/{device._meta.app_label}/{device._meta.model_name}/{device.pk}/delete/"
        assert admin.post(page, {"post": "yes"}).status_code == 302

    assert not two_factor.enrolled(lead)
    resets = AuditEvent.objects.filter(action="delete", object_type="two_factor", user=root)
    assert set(resets.values_list("reason", flat=True)) == {
        f"{model._meta.verbose_name} of {lead}" for model in (TOTPDevice, StaticDevice)
    }
    response = signed_in(lead).get("/admin/")  # asked to enrol a new app at the next sign-in
    assert response.headers["Location"].startswith("/accounts/two-factor/setup/")
