"""A patient's phone details live on the number's contact and are served on the patient."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from cohorts.models import Cohort, Patient
from cohorts.risk import Tier
from notifications.models import Contact
from scheduling import planner
from scheduling.models import Protocol
from tests.api.test_patients import patient_payload
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]

PATIENTS = "/api/v1/patients/"


@time_machine.travel("2026-01-10 12:00Z")
def test_the_phone_details_are_written_to_the_numbers_contact(api, alice, cohort_a):
    body = api(alice).post(PATIENTS, patient_payload(cohort_a), format="json").json()

    contact = Patient.objects.get(pk=body["id"]).contact
    assert (contact.number, contact.timezone, contact.language) == (
        "+12015550142",
        "America/New_York",
        "es",
    )
    assert contact.sms_consent and contact.sms_consent_source == "staff"
    assert body["sms_opted_out_at"] is None and body["phone_invalid_at"] is None


@time_machine.travel("2026-01-10 12:00Z")
def test_a_patient_without_a_zone_gets_the_cohorts(api, alice, cohort_a):
    Cohort.objects.filter(pk=cohort_a.pk).update(timezone="Europe/Madrid")
    payload = patient_payload(cohort_a)
    del payload["timezone"]

    body = api(alice).post(PATIENTS, payload, format="json").json()

    assert body["timezone"] == "Europe/Madrid"
    series = Patient.objects.get(pk=body["id"]).reminder_series.first()
    assert series.timezone == "Europe/Madrid"


@time_machine.travel("2026-01-10 12:00Z")
def test_two_patients_giving_one_number_share_its_contact(api, alice, cohort_a):
    first = PatientFactory(cohort=cohort_a, phone="+12015550142", timezone="America/Chicago")

    body = api(alice).post(PATIENTS, patient_payload(cohort_a), format="json").json()

    second = Patient.objects.get(pk=body["id"])
    assert second.contact_id == first.contact_id
    assert Contact.objects.filter(number="+12015550142").count() == 1
    # The latest word on the number holds for both: it is one phone.
    first.refresh_from_db()
    assert first.timezone == "America/New_York"


@time_machine.travel("2026-01-10 12:00Z")
def test_a_stopped_number_is_shown_as_opted_out_on_every_patient_using_it(api, alice, cohort_a):
    first = PatientFactory(cohort=cohort_a, phone="+12015550142")
    Contact.objects.filter(pk=first.contact_id).update(opted_out_at="2026-01-09T10:00:00Z")

    body = api(alice).post(PATIENTS, patient_payload(cohort_a), format="json").json()

    assert body["sms_opted_out_at"] == "2026-01-09T10:00:00Z"


@time_machine.travel("2026-01-10 12:00Z")
def test_withdrawing_consent_clears_when_it_was_given(api, alice, cohort_a):
    patient = PatientFactory(cohort=cohort_a, sms_consent=True)
    url = f"{PATIENTS}{patient.pk}/"

    body = api(alice).patch(url, {"sms_consent": False}, format="json").json()

    assert (body["sms_consent"], body["sms_consent_at"], body["sms_consent_source"]) == (
        False,
        None,
        "",
    )


def test_the_cohort_serves_its_time_zone_and_care_team_phone(api, alice, cohort_a):
    body = api(alice).get(f"/api/v1/cohorts/{cohort_a.pk}/").json()

    assert body["timezone"] == cohort_a.timezone
    assert "contact_phone" in body


def test_an_admin_cannot_give_a_cohort_an_unknown_time_zone(api, admin_user, cohort_a):
    url = f"/api/v1/cohorts/{cohort_a.pk}/"

    response = api(admin_user).patch(url, {"timezone": "Mars/Olympus_Mons"}, format="json")

    assert response.status_code == 400
    assert "timezone" in response.json()
    cohort_a.refresh_from_db()
    assert cohort_a.timezone == "UTC"


def test_an_evening_enrolment_west_of_the_server_counts_the_sites_date(api, alice, cohort_a):
    """At 20:00 in Los Angeles the server's (UTC) date is already tomorrow: the patient is
    enrolled on the site's date, and a visit whose window closes that day is still planned."""
    Cohort.objects.filter(pk=cohort_a.pk).update(timezone="America/Los_Angeles")
    payload = patient_payload(cohort_a)
    del payload["enrolled_on"]
    treatment_end = date.fromisoformat(payload["profile"]["treatment_end_date"])
    rules = Protocol.objects.active().rules_by_tier()[Tier.HIGH]
    planned = planner.plan(
        rules, treatment_end=treatment_end, enrolled_on=treatment_end,
        timezone="America/Los_Angeles", reminder_time=time(9, 30),
    )  # fmt: skip
    last_day = min(visit.window_end for visit in planned.visits)
    evening = datetime.combine(last_day, time(20), tzinfo=ZoneInfo("America/Los_Angeles"))

    with time_machine.travel(evening):
        assert evening.astimezone(UTC).date() > last_day
        body = api(alice).post(PATIENTS, payload, format="json").json()

    patient = Patient.objects.get(pk=body["id"])
    assert (patient.risk_tier, body["enrolled_on"]) == (Tier.HIGH, last_day.isoformat())
    assert patient.visits.filter(window_end=last_day).exists()
