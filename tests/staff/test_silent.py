"""Patients silent through their last three self-exam reminders: counted by the sweep on
the series, forgotten as soon as they write, kept when a new tier replaces the series,
listed on Today."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from notifications import inbound
from scheduling.sweep import sweep
from tests.factories import PatientFactory
from tests.staff.helpers import signed_in

pytestmark = [pytest.mark.django_db]


def sweep_next_reminder(patient) -> None:
    """Move to the patient's next self-exam reminder and sweep it into the outbox."""
    series = patient.reminder_series.filter(is_active=True).order_by("next_due_at").first()
    with time_machine.travel(series.next_due_at + timedelta(minutes=1), tick=False):
        sweep(timezone.now())


def unanswered(patient) -> int:
    series = patient.reminder_series.filter(is_active=True, kind="self_exam")
    return max(series.values_list("unanswered", flat=True), default=0)


@time_machine.travel("2026-02-02 14:00Z")
def test_three_reminders_without_a_word_put_a_patient_on_today_and_a_reply_takes_them_off(
    alice, cohort_a
):
    patient = PatientFactory(cohort=cohort_a, first_name="Quiet", last_name="One")
    for expected in (1, 2, 3):
        sweep_next_reminder(patient)
        assert unanswered(patient) == expected

    with time_machine.travel(timezone.now() + timedelta(days=100)):
        today = signed_in(alice).get("/staff/").content.decode()
        listed = AuditEvent.objects.filter(object_type="worklist").latest("pk")
        inbound.receive("SMquiet0001", patient.phone, "+12025550100", "1")
        after = signed_in(alice).get("/staff/").content.decode()

    section = today.split('id="section-silent"')[1]
    assert "Quiet One" in section and "3 self-exam reminders without an answer" in section
    assert patient.pk in listed.patient_ids
    assert unanswered(patient) == 0
    assert "Quiet One" not in after.split('id="section-silent"')[1]


@time_machine.travel("2026-02-02 14:00Z")
def test_two_unanswered_reminders_are_not_yet_a_silence(alice, cohort_a):
    patient = PatientFactory(cohort=cohort_a, first_name="Busy", last_name="Two")
    for _ in range(2):
        sweep_next_reminder(patient)

    with time_machine.travel(timezone.now() + timedelta(days=70)):
        today = signed_in(alice).get("/staff/").content.decode()

    assert "Busy Two" not in today.split('id="section-silent"')[1]


@time_machine.travel("2026-02-02 14:00Z")
def test_a_new_tier_keeps_the_count_of_the_series_it_replaces(alice, cohort_a):
    from cohorts.services import reassess_and_replan

    patient = PatientFactory(cohort=cohort_a, tier="standard")
    for _ in range(3):
        sweep_next_reminder(patient)
    old = set(patient.reminder_series.filter(is_active=True).values_list("pk", flat=True))

    patient.profile.prior_recurrence = True  # very high: weekly reminders, a new series
    patient.profile.save()
    reassess_and_replan([patient])

    assert set(patient.reminder_series.filter(is_active=True).values_list("pk", flat=True)) != old
    assert unanswered(patient) == 3
