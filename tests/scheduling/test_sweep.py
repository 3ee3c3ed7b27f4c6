from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import dispatch
from notifications.models import Message
from scheduling.models import ReminderSeries, Visit
from scheduling.sweep import sweep
from tests.factories import PatientFactory, change_patient

pytestmark = [pytest.mark.django_db]
NOW = "2026-06-01 14:00Z"  # 10:00 in New York


def make_due(patient, ago=timedelta(minutes=1)):
    series = patient.reminder_series.filter(is_active=True).order_by("dtstart").first()
    ReminderSeries.objects.filter(pk=series.pk).update(next_due_at=timezone.now() - ago)
    return series


@time_machine.travel(NOW)
def test_it_queues_one_message_per_due_occurrence_and_advances_the_series():
    patient = PatientFactory(tier="high", language="es")
    series = make_due(patient)

    assert sweep() == {"self_exam": 1, "visit_reminder": 0}
    assert sweep() == {"self_exam": 0, "visit_reminder": 0}

    [message] = Message.objects.all()
    assert (message.subject, message.kind, message.status) == (patient, "self_exam", "queued")
    assert message.body.startswith("Su equipo")
    assert message.idempotency_key.startswith(f"series:{series.pk}:")
    series.refresh_from_db()
    assert series.next_due_at > timezone.now()


@time_machine.travel(NOW)
def test_a_self_exam_reminder_expires_when_the_next_one_of_its_series_is_due(sms_outbox):
    patient = PatientFactory(tier="very_high")  # weekly in years 1-3
    series = make_due(patient, ago=timedelta(days=10))  # a catch-up: one missed since

    sweep()

    [reminder] = Message.objects.filter(patient=patient, kind="self_exam")
    series.refresh_from_db()
    assert reminder.expires_at == series.next_due_at  # superseded by the next one
    assert timezone.now() < reminder.expires_at <= timezone.now() + timedelta(days=7)
    with time_machine.travel(reminder.expires_at, tick=False):  # held until then
        assert dispatch.send(reminder.pk) == "not claimable"
    reminder.refresh_from_db()
    assert reminder.status == "expired" and sms_outbox == []


@time_machine.travel(NOW)
def test_it_writes_nothing_twice_for_the_same_occurrence():
    patient = PatientFactory(tier="high")
    series = make_due(patient)
    due_at = ReminderSeries.objects.get(pk=series.pk).next_due_at
    sweep()
    # A second sweep that saw the old next_due_at (say, a worker that died before commit).
    ReminderSeries.objects.filter(pk=series.pk).update(next_due_at=due_at)

    sweep()

    assert Message.objects.count() == 1


@time_machine.travel(NOW)
def test_it_sends_one_catch_up_after_the_workers_were_down_for_weeks():
    patient = PatientFactory(tier="very_high")  # weekly in years 1-3
    series = make_due(patient, ago=timedelta(days=22))

    sweep()

    assert Message.objects.filter(patient=patient).count() == 1
    series.refresh_from_db()
    assert timezone.now() < series.next_due_at <= timezone.now() + timedelta(days=7)


@time_machine.travel(NOW)
@pytest.mark.parametrize(
    "change",
    [
        {"sms_consent": False},
        {"sms_opted_out_at": datetime(2026, 5, 1, tzinfo=UTC)},
        {"reminders_paused_until": date(2026, 6, 10)},
        {"is_active": False},
    ],
)
def test_it_skips_patients_it_must_not_text_but_still_advances(change):
    patient = PatientFactory(tier="high")
    series = make_due(patient)
    change_patient(patient, **change)

    sweep()

    assert not Message.objects.exists()
    series.refresh_from_db()
    assert series.next_due_at > timezone.now()


def test_it_reminds_a_booked_visit_seven_days_and_one_day_before():
    with time_machine.travel("2026-06-01 14:00Z"):
        patient = PatientFactory(tier="high")
        visit = patient.visits.filter(kind="clinic").order_by("due_date").first()
        visit.book(timezone.now() + timedelta(days=10), "Clinic 2")
    reminders = []
    for day in ("2026-06-04 14:01Z", "2026-06-10 14:01Z", "2026-06-11 14:01Z"):
        with time_machine.travel(day):
            reminders.append(sweep()["visit_reminder"])

    assert reminders == [1, 1, 0]
    bodies = list(Message.objects.filter(kind="visit_reminder").values_list("body", flat=True))
    assert all("2026-06-11 at 10:00, Clinic 2" in body for body in bodies)
    # Never held by the frequency cap: the day-before reminder must come before the visit.
    assert all(
        Message.objects.filter(kind="visit_reminder").values_list("time_critical", flat=True)
    )


@time_machine.travel(NOW)
def test_its_cost_grows_with_what_is_due_not_with_the_cohort():
    def queries_for_a_tick(idle: int) -> int:
        Message.objects.all().delete()
        ReminderSeries.objects.update(next_due_at=timezone.now() + timedelta(days=3))
        PatientFactory.create_batch(idle, tier="standard")
        for patient in PatientFactory.create_batch(2, tier="high"):
            make_due(patient)
        with CaptureQueriesContext(connection) as queries:
            sweep()
        return len(queries)

    assert queries_for_a_tick(idle=3) == queries_for_a_tick(idle=30)


@time_machine.travel(NOW)
@pytest.mark.parametrize("due", [4, 5])
def test_it_goes_batch_by_batch_until_one_comes_short(due):
    for patient in PatientFactory.create_batch(due, tier="high"):
        make_due(patient)
    claims = []

    def count_claims(execute, sql, *args):
        if "FOR UPDATE" in sql and ReminderSeries._meta.db_table in sql:
            claims.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(count_claims):
        assert sweep(batch_size=2) == {"self_exam": due, "visit_reminder": 0}

    assert len(claims) == due // 2 + 1  # 2, 2, then 0 (four due) or 1 (five due)
    assert Message.objects.filter(kind="self_exam").count() == due
    assert not ReminderSeries.objects.filter(next_due_at__lte=timezone.now()).exists()


def visit_booked_on_1_june(days_ahead: int):
    """A high-tier patient's first clinic visit, booked on 1 June for `days_ahead` later."""
    with time_machine.travel("2026-06-01 14:00Z"):
        patient = PatientFactory(tier="high")
        visit = patient.visits.filter(kind="clinic").order_by("due_date").first()
        visit.book(timezone.now() + timedelta(days=days_ahead), "Clinic 2")
    return visit


def test_it_writes_no_reminder_for_an_appointment_already_past_after_an_outage():
    visit = visit_booked_on_1_june(10)

    with time_machine.travel("2026-06-12 14:00Z"):  # the workers were down until after it
        assert sweep()["visit_reminder"] == 1  # claimed and advanced ...

    assert not Message.objects.filter(kind="visit_reminder").exists()  # ... but not written
    visit.refresh_from_db()
    assert visit.next_reminder_at is None


def reminder_visit_time(reminder):
    return Visit.objects.get(pk=reminder.idempotency_key.split(":")[1]).booked_at


def test_a_held_reminder_expires_once_its_appointment_has_passed(sms_outbox):
    visit_booked_on_1_june(8)
    with time_machine.travel("2026-06-02 14:01Z"):
        sweep()
    reminder = Message.objects.get(kind="visit_reminder")

    with time_machine.travel("2026-06-09 15:00Z"):  # held past the appointment
        assert dispatch.send(reminder.pk) == "not claimable"

    reminder.refresh_from_db()
    assert reminder.status == "expired"  # its useful life ended with the appointment
    assert reminder.expires_at == reminder_visit_time(reminder)
    assert sms_outbox == []


def test_a_rebooked_visits_old_reminder_is_cancelled(sms_outbox):
    visit = visit_booked_on_1_june(8)
    with time_machine.travel("2026-06-02 14:01Z"):
        sweep()
        old = Message.objects.get(kind="visit_reminder")
        visit.refresh_from_db()
        visit.book(timezone.now() + timedelta(days=20), "Clinic 3")
        assert dispatch.send(old.pk) == "not claimable"

    old.refresh_from_db()
    assert old.status == "cancelled"
    assert sms_outbox == []


def queued_reminder_of(visit):
    """The visit's reminder, written by the sweep the day after booking and still queued."""
    with time_machine.travel("2026-06-02 14:01Z"):
        sweep()
    return Message.objects.get(kind="visit_reminder", status="queued")


@pytest.mark.parametrize(
    "change",
    [
        lambda visit: visit.book(timezone.now() + timedelta(days=20), "Clinic 3"),
        lambda visit: visit.cancel(note="patient moved"),
        lambda visit: visit.complete(),
    ],
    ids=["rebooked", "cancelled", "done early"],
)
def test_a_changed_visits_queued_reminder_is_cancelled_at_once(change):
    visit = visit_booked_on_1_june(8)
    reminder = queued_reminder_of(visit)

    with time_machine.travel("2026-06-02 15:00Z"):
        visit.refresh_from_db()
        change(visit)

    reminder.refresh_from_db()
    assert (reminder.status, reminder.send_after) == ("cancelled", None)


def test_a_visit_rebooked_at_the_same_time_keeps_its_reminder():
    visit = visit_booked_on_1_june(8)
    reminder = queued_reminder_of(visit)

    with time_machine.travel("2026-06-02 15:00Z"):
        visit.refresh_from_db()
        visit.book(visit.booked_at, "Clinic 4")  # only the room changed

    reminder.refresh_from_db()
    assert reminder.status == "queued"


@time_machine.travel(NOW)
@pytest.mark.parametrize("reminder_times", [1, 60], ids=["one UPDATE per value", "bulk_update"])
def test_it_advances_every_series_to_its_own_next_occurrence(reminder_times):
    from datetime import time

    from scheduling import planner

    patients = [
        PatientFactory(tier="high", reminder_time=time(7 + n % 12, n % reminder_times % 60))
        for n in range(60)
    ]
    due = [make_due(patient) for patient in patients]

    assert sweep()["self_exam"] == 60

    for series in due:
        series.refresh_from_db()
        expected = planner.next_occurrence(series.as_planned(), timezone.now())
        assert series.next_due_at == expected > timezone.now()
