"""A number two patients share has one time zone (the contact's): when enrolling or
editing one of them changes it, the other's reminders follow it too."""

from zoneinfo import ZoneInfo

import pytest
import time_machine

from scheduling.models import ReminderSeries
from tests.factories import CohortFactory, PatientFactory

pytestmark = pytest.mark.django_db

SHARED = "+12015550160"


def zones_of(patient) -> set[str]:
    return set(
        ReminderSeries.objects.filter(patient=patient, is_active=True).values_list(
            "timezone", flat=True
        )
    )


@pytest.fixture
def first(alice):
    with time_machine.travel("2026-06-01 14:00Z"):
        return PatientFactory(
            cohort=CohortFactory(coordinators=[alice]), phone=SHARED, timezone="America/Denver"
        )


def test_enrolling_a_second_patient_in_another_zone_moves_the_firsts_reminders(first):
    assert zones_of(first) == {"America/Denver"}
    with time_machine.travel("2026-06-02 14:00Z"):
        PatientFactory(cohort=first.cohort, phone=SHARED, timezone="America/New_York")

    assert zones_of(first) == {"America/New_York"}
    for series in ReminderSeries.objects.filter(patient=first, is_active=True):
        local = series.next_due_at.astimezone(ZoneInfo("America/New_York"))
        assert (local.hour, local.minute) == (first.reminder_time.hour, first.reminder_time.minute)


def test_editing_one_patients_zone_moves_the_others_reminders(api, alice, first):
    with time_machine.travel("2026-06-02 14:00Z"):
        second = PatientFactory(cohort=first.cohort, phone=SHARED, timezone="America/Denver")
        response = api(alice).patch(
            f"/api/v1/patients/{second.pk}/", {"timezone": "Europe/Madrid"}, format="json"
        )

    assert response.status_code == 200, response.content
    assert zones_of(first) == zones_of(second) == {"Europe/Madrid"}


def test_a_zone_left_as_it_was_replans_nobody_else(first):
    planned = set(ReminderSeries.objects.filter(patient=first).values_list("pk", "next_due_at"))
    with time_machine.travel("2026-06-02 14:00Z"):
        PatientFactory(cohort=first.cohort, phone=SHARED, timezone="America/Denver")

    assert set(ReminderSeries.objects.filter(patient=first).values_list("pk", "next_due_at")) == (
        planned
    )
