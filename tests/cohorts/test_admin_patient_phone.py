"""The admin edits a patient's phone with the patient: typed, never picked by contact id."""

import pytest

from notifications.models import Contact
from tests.admin_pages import form_data
from tests.factories import PatientFactory, UserFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="su", is_superuser=True, is_staff=True))
    return client


@pytest.fixture
def patient():
    return PatientFactory(phone="+12015550123", timezone="America/New_York", sms_consent=True)


def change_url(patient) -> str:
    return f"/admin/cohorts/patient/{patient.pk}/change/"


def test_the_form_shows_the_phone_and_offers_no_contact_to_pick(admin_client, patient):
    form = admin_client.get(change_url(patient)).context["adminform"].form

    assert "contact" not in form.fields
    assert form["phone"].value() == "+12015550123"
    assert form["timezone"].value() == "America/New_York"
    assert form["sms_consent"].value() is True


def test_a_new_number_gets_its_own_contact_and_the_old_one_stays(admin_client, patient):
    old = patient.contact
    data = form_data(admin_client.get(change_url(patient)))
    data.update(phone="(201) 555-0177", language="es")

    response = admin_client.post(change_url(patient), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    patient.refresh_from_db()
    assert patient.contact_id != old.pk
    assert (patient.phone, patient.language) == ("+12015550177", "es")
    assert patient.timezone == "America/New_York"  # kept when the number changes
    assert Contact.objects.filter(pk=old.pk).exists()


def test_withdrawn_consent_is_recorded_on_the_number(admin_client, patient):
    data = form_data(admin_client.get(change_url(patient)))
    data.pop("sms_consent")

    admin_client.post(change_url(patient), data)

    patient.contact.refresh_from_db()
    assert (patient.contact.sms_consent, patient.contact.sms_consent_at) == (False, None)


@pytest.mark.parametrize(
    ("field", "value"), [("phone", "not a number"), ("timezone", "Mars/Olympus")]
)
def test_a_bad_phone_or_zone_is_refused_and_changes_nothing(admin_client, patient, field, value):
    data = form_data(admin_client.get(change_url(patient)))
    data[field] = value

    response = admin_client.post(change_url(patient), data)

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    patient.refresh_from_db()
    assert (patient.phone, patient.timezone) == ("+12015550123", "America/New_York")
