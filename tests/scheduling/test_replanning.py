from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cohorts.services import reassess_and_replan
from records import withdrawal
from scheduling import services
from scheduling.models import Protocol, ReminderSeries, Visit
from scheduling.tasks import replan_everyone
from surveillance import lesions
from tests.factories import ROUTINE_ANSWERS, CohortFactory, PatientFactory

pytestmark = [pytest.mark.django_db]


def snapshot(patient):
    visits = list(patient.visits.values_list("id", "kind", "due_date", "status").order_by("id"))
    series = list(
        patient.reminder_series.values_list("id", "rule", "next_due_at", "is_active").order_by("id")
    )
    return visits, series


@time_machine.travel("2026-06-01 12:00Z")
def test_it_changes_nothing_when_planning_twice():
    patient = PatientFactory(tier="high")
    before = snapshot(patient)

    services.replan([patient])
    services.replan([patient])

    assert snapshot(patient) == before


@time_machine.travel("2026-06-01 12:00Z")
def test_an_urgent_visit_not_yet_booked_outlives_every_new_plan(alice):
    """Staff add it for a lesion flag; no protocol plans it, so no new plan may drop it."""
    patient = PatientFactory(tier="standard")
    flag = lesions.record_report(patient, "staff", ROUTINE_ANSWERS)
    urgent = lesions.add_urgent_visit(flag, alice)
    patient.profile.her2 = "positive"
    patient.profile.save()

    reassess_and_replan([patient])
    replan_everyone()

    flag.refresh_from_db()
    assert flag.urgent_visit_id == urgent.pk
    assert Visit.objects.get(pk=urgent.pk).status == Visit.Status.PLANNED


def test_a_visit_due_now_outlives_a_rise_in_tier_that_narrows_its_window():
    """Standard: the month-6 clinic visit is due 15 July, +/- 28 days. On 5 August it is
    due, not booked. HER2 turns out positive (high: 3-monthly, +/- 14 days, so that
    month's window closed on 29 July): the visit owed now stays owed."""
    with time_machine.travel("2026-02-01 12:00Z"):
        patient = PatientFactory(
            tier="standard", treatment_end_date=date(2026, 1, 15), enrolled_on=date(2026, 2, 1)
        )
    due_now = patient.visits.get(kind="clinic", due_date=date(2026, 7, 15))

    with time_machine.travel("2026-08-05 12:00Z"):
        patient.profile.her2 = "positive"
        patient.profile.save()
        reassess_and_replan([patient])

    patient.refresh_from_db()
    assert patient.risk_tier == "high"
    due_now.refresh_from_db()
    assert (due_now.status, due_now.window_end) == ("planned", date(2026, 8, 12))
    clinic = patient.visits.filter(kind="clinic", status="planned").order_by("due_date")
    assert list(clinic.values_list("due_date", flat=True)[:2]) == [
        date(2026, 7, 15),
        date(2026, 10, 15),  # the high tier's next, 3 months on
    ]


@time_machine.travel("2026-06-01 12:00Z")
def test_a_withdrawn_patients_urgent_visit_is_cancelled_and_kept(alice):
    patient = PatientFactory(tier="standard")
    flag = lesions.record_report(patient, "staff", ROUTINE_ANSWERS)
    urgent = lesions.add_urgent_visit(flag, alice)

    withdrawal.withdraw(patient, "moved_away", timezone.localdate(), by=alice)

    flag.refresh_from_db()
    assert flag.urgent_visit_id == urgent.pk
    assert Visit.objects.get(pk=urgent.pk).status == Visit.Status.CANCELLED
    assert not patient.visits.filter(status=Visit.Status.PLANNED).exists()


@time_machine.travel("2026-06-01 12:00Z")
def test_it_never_touches_visits_a_coordinator_acted_on():
    patient = PatientFactory(
        tier="standard", treatment_end_date=date(2026, 1, 15), enrolled_on=date(2026, 1, 20)
    )
    booked = patient.visits.filter(kind="clinic").order_by("due_date").first()
    booked.book(timezone.now() + timezone.timedelta(days=40), "Clinic 3")
    patient.profile.her2 = "positive"
    patient.profile.save()

    reassess_and_replan([patient])

    booked.refresh_from_db()
    assert booked.status == "booked"
    clinic = patient.visits.filter(kind="clinic").order_by("due_date")
    # Nothing duplicates the booked visit's window; the 3-monthly cadence follows it.
    assert [v.due_date for v in clinic[:4]] == [
        date(2026, 7, 15),
        date(2026, 10, 15),
        date(2027, 1, 15),
        date(2027, 4, 15),
    ]
    assert clinic.first().pk == booked.pk


def test_it_keeps_overdue_planned_visits_as_visible_care_gaps():
    with time_machine.travel("2025-06-02 12:00Z"):
        patient = PatientFactory(
            tier="standard", treatment_end_date=date(2025, 6, 1), enrolled_on=date(2025, 6, 2)
        )
    overdue = patient.visits.get(kind="clinic", due_date=date(2025, 12, 1))
    patient.profile.her2 = "positive"
    patient.profile.save()

    with time_machine.travel("2026-06-01 12:00Z"):
        reassess_and_replan([patient])

    assert Visit.objects.get(pk=overdue.pk).state_on(date(2026, 6, 1)) == "overdue"


@time_machine.travel("2026-06-01 12:00Z")
def test_it_keeps_series_progress_and_retires_replaced_series():
    patient = PatientFactory(tier="standard", treatment_end_date=date(2026, 1, 15))
    monthly = patient.reminder_series.filter(is_active=True).order_by("dtstart").first()
    advanced = monthly.next_due_at + timezone.timedelta(days=31)
    ReminderSeries.objects.filter(pk=monthly.pk).update(next_due_at=advanced)

    services.replan([patient])
    assert ReminderSeries.objects.get(pk=monthly.pk).next_due_at == advanced

    patient.profile.her2 = "positive"
    patient.profile.save()
    reassess_and_replan([patient])

    monthly.refresh_from_db()
    assert (monthly.is_active, monthly.next_due_at) == (False, None)
    active = patient.reminder_series.filter(is_active=True).order_by("dtstart").first()
    assert active.rule.startswith("FREQ=WEEKLY;INTERVAL=2")


@time_machine.travel("2026-06-01 12:00Z")
def test_it_moves_reminders_when_the_preferred_time_changes():
    patient = PatientFactory(tier="high", timezone="Europe/Madrid")
    patient.reminder_time = time(18, 15)
    patient.save()

    services.replan([patient])

    series = patient.reminder_series.get(
        is_active=True, next_due_at__isnull=False, rule__startswith="FREQ=WEEKLY"
    )
    local = series.next_due_at.astimezone(ZoneInfo("Europe/Madrid"))
    assert local.time() == time(18, 15)


def test_it_plans_a_batch_in_a_constant_number_of_queries():
    patients = PatientFactory.create_batch(3, tier="high") + PatientFactory.create_batch(
        3, tier="standard"
    )
    for patient in patients:
        patient.reminder_time = time(9, 0)

    with CaptureQueriesContext(connection) as few:
        services.replan(patients[:2])
    with CaptureQueriesContext(connection) as many:
        services.replan(patients)

    assert len(many) == len(few)


@time_machine.travel("2026-06-01 12:00Z")
def test_an_edit_inside_a_transaction_takes_no_savepoint_of_its_own():
    """The caller's unit of work (an API edit, an enrolment) stands or falls whole."""
    patient = PatientFactory(tier="standard")
    patient.profile.her2 = "positive"
    patient.profile.save()

    with CaptureQueriesContext(connection) as edit:  # the test's transaction is the caller's
        reassess_and_replan([patient])

    assert patient.visits.filter(status="planned").count() > 0
    assert [query["sql"] for query in edit if "SAVEPOINT" in query["sql"]] == []


def test_it_keeps_plans_on_the_version_they_were_built_from():
    patient = PatientFactory(tier="high")
    version_1 = Protocol.objects.active()
    draft = version_1.new_draft()
    draft.visit_rules.filter(tier="high", kind="clinic", start_month=0).update(interval_months=4)

    draft.activate()

    version_1.refresh_from_db()
    assert version_1.status == "retired"
    assert set(patient.visits.values_list("protocol__version", flat=True)) == {1}
    assert Protocol.objects.active() == draft


@time_machine.travel("2026-06-01 12:00Z")
def test_it_replans_everyone_on_a_new_protocol_version():
    patient = PatientFactory(
        tier="high", treatment_end_date=date(2026, 1, 15), enrolled_on=date(2026, 1, 20)
    )
    draft = Protocol.objects.active().new_draft()
    draft.visit_rules.filter(tier="high", kind="clinic", start_month=0).update(interval_months=4)
    draft.activate()

    assert replan_everyone() == {"replanned": 1}

    future = patient.visits.filter(kind="clinic", due_date__gte=date(2026, 6, 1))
    assert future.first().due_date == date(2026, 9, 15)
    assert set(future.values_list("protocol__version", flat=True)) == {draft.version}


@time_machine.travel("2026-06-01 12:00Z")
def test_a_patient_moved_to_another_cohort_takes_every_visit_along():
    patient = PatientFactory(tier="high")
    kept = patient.visits.order_by("due_date").first()
    kept.book(timezone.now() + timezone.timedelta(days=3), "Room 4")
    other = CohortFactory()

    patient.cohort = other
    patient.save()
    reassess_and_replan([patient])

    cohorts = set(Visit.objects.filter(patient=patient).values_list("cohort_id", flat=True))
    assert cohorts == {other.pk}
    assert Visit.objects.get(pk=kept.pk).status == Visit.Status.BOOKED
