from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone
from icalendar import Calendar

from audit.models import AuditEvent
from notifications.sms_templates import names_a_diagnosis
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]


@time_machine.travel("2026-02-01 12:00Z")
def test_it_exports_the_visits_as_icalendar_without_diagnosis_words(api, alice, cohort_a):
    patient = PatientFactory(cohort=cohort_a, tier="high", treatment_end_date=date(2026, 1, 15))
    first = patient.visits.filter(kind="clinic").order_by("due_date").first()
    first.book(timezone.now() + timedelta(days=70), "Clinic 2")

    response = api(alice).get(
        f"/api/v1/patients/{patient.pk}/calendar/", HTTP_ACCEPT="text/calendar"
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert len(events) == patient.visits.count()
    booked = next(e for e in events if e["uid"].startswith(f"visit-{first.pk}@"))
    assert (booked["status"], str(booked["location"])) == ("CONFIRMED", "Clinic 2")
    text = response.content.decode()
    assert names_a_diagnosis(text) == ""
    for identifier in (patient.mrn, patient.first_name, patient.phone):
        assert identifier not in text
    assert AuditEvent.objects.filter(action="export", object_type="calendar").count() == 1


def test_it_hides_another_cohorts_calendar(api, bob, cohort_a):
    patient = PatientFactory(cohort=cohort_a)

    response = api(bob).get(f"/api/v1/patients/{patient.pk}/calendar/")

    assert response.status_code == 404
    [probe] = AuditEvent.objects.all()  # no export: only the probe, kept for the admins
    assert (probe.action, probe.patient_id, probe.username) == ("denied", patient.pk, "bob")
