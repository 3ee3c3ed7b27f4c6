"""Urgent alerts, overdue escalation (once per level) and the daily digest."""

from datetime import date, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from notifications.models import Message
from notifications.sms_templates import DIAGNOSIS_WORDS
from records import withdrawal
from scheduling.models import Visit
from surveillance import alerts, digest, escalation, lesions
from surveillance.models import DigestDelivery, FlagEscalation, Holiday
from tests.factories import CohortFactory, PatientFactory, UserFactory

pytestmark = [pytest.mark.django_db]

NEW_YORK = ZoneInfo("America/New_York")
URGENT = {"bleeding": "yes"}
ROUTINE = {"location": "elsewhere", "itch": "yes"}  # no red flag


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


@pytest.fixture
def coordinators(db):
    return [
        UserFactory(username="carol", role="coordinator"),
        UserFactory(username="dave", role="coordinator"),
    ]


@pytest.fixture
def lead(db):
    return UserFactory(username="leah", role="clinical_lead")


@pytest.fixture
def cohort(coordinators, lead):
    return CohortFactory(
        name="North",
        timezone="America/New_York",
        coordinators=coordinators,
        clinical_leads=[lead],
    )


@pytest.fixture
def patient(cohort):
    return PatientFactory(
        cohort=cohort,
        first_name="Rosalind",
        last_name="Example",
        mrn="MRN-SECRET-1",
        phone="+12015550177",
    )


@pytest.fixture
def oncall(settings):
    settings.ONCALL_SMS_NUMBER = "+12015550199"
    return settings.ONCALL_SMS_NUMBER


def report(patient, answers, at: datetime):
    return lesions.record_report(patient, "web", answers, at=at)


def emails_to(user) -> list:
    return [email for email in mail.outbox if user.email in email.to]


def assert_no_patient_data(text: str) -> None:
    for secret in ("Rosalind", "Example", "MRN-SECRET-1", "5550177", "555-0177"):
        assert secret not in text
    lowered = text.lower()
    assert not [word for word in DIAGNOSIS_WORDS if word in lowered]


# --- Urgent alerts ----------------------------------------------------------------------


@time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False)
def test_it_emails_the_coordinators_once_about_an_urgent_flag_without_patient_data(
    patient, coordinators
):
    flag = report(patient, URGENT, timezone.now())

    first = alerts.alert_urgent(flag.pk)
    second = alerts.alert_urgent(flag.pk)

    assert first["emailed"] == [user.pk for user in coordinators]
    assert second["emailed"] == [] and second["skipped"] == "already e-mailed"
    [email] = mail.outbox
    assert sorted(email.to) == sorted(user.email for user in coordinators)
    assert f"flag #{flag.pk}" in email.subject
    assert "review by 2026-06-02 10:00 EDT" in email.subject
    assert f"/staff/flags/{flag.pk}/" in email.body
    assert_no_patient_data(email.subject + email.body)


@time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False)
def test_it_queues_one_oncall_sms_for_an_urgent_flag_when_configured(
    patient, oncall, django_capture_on_commit_callbacks
):
    flag = report(patient, URGENT, timezone.now())

    with django_capture_on_commit_callbacks() as wakes:
        alerts.alert_urgent(flag.pk)
        alerts.alert_urgent(flag.pk)

    [sms] = Message.objects.filter(kind=Message.Kind.STAFF_ALERT)
    assert sms.subject is None and sms.direction == Message.Direction.OUTBOUND
    assert (sms.to_number, sms.urgent, sms.status) == (oncall, True, Message.Status.QUEUED)
    assert sms.idempotency_key == f"flag:{flag.pk}:oncall"
    assert f"flag #{flag.pk}" in sms.body
    assert_no_patient_data(sms.body)
    assert len(wakes) >= 1  # the dispatcher is woken after commit
    assert len(mail.outbox) == 1


@time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False)
def test_it_queues_no_oncall_sms_without_a_number(patient, settings):
    settings.ONCALL_SMS_NUMBER = ""
    flag = report(patient, URGENT, timezone.now())

    result = alerts.alert_urgent(flag.pk)

    assert result["sms"] is None
    assert not Message.objects.filter(kind=Message.Kind.STAFF_ALERT).exists()
    assert len(mail.outbox) == 1


@time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False)
def test_it_alerts_nobody_about_routine_resolved_or_missing_flags(patient, oncall, coordinators):
    routine = report(patient, ROUTINE, timezone.now())
    urgent = report(patient, URGENT, timezone.now())
    lesions.resolve(urgent, "benign", by=coordinators[0])

    assert alerts.alert_urgent(routine.pk)["emailed"] == []
    assert alerts.alert_urgent(urgent.pk)["emailed"] == []
    assert alerts.alert_urgent(999_999)["skipped"] == "no such flag"

    assert mail.outbox == []
    assert not Message.objects.filter(kind=Message.Kind.STAFF_ALERT).exists()


def test_it_catches_up_an_urgent_alert_whose_wake_up_was_lost(patient):
    with time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False):
        # record_report's on-commit task never ran (the test transaction never commits).
        flag = report(patient, URGENT, timezone.now())
    with time_machine.travel(ny(2026, 6, 1, 10, 1), tick=False):
        first = escalation.escalate_overdue(timezone.now())
        second = escalation.escalate_overdue(timezone.now())
        alerts.alert_urgent(flag.pk)

    assert first["urgent_alerts"] == 1 and second["urgent_alerts"] == 0
    assert [f"flag #{flag.pk}" in email.subject for email in mail.outbox] == [True]


# --- Overdue escalation -----------------------------------------------------------------


def test_it_escalates_once_per_level_as_time_moves_forward(patient, coordinators, lead):
    # Monday 10:00, routine: review due Thursday 10:00, the lead at twice that (next Tuesday).
    with time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False) as clock:
        flag = report(patient, ROUTINE, timezone.now())
        assert flag.review_due_at == ny(2026, 6, 4, 10, 0)
        assert flag.lead_escalation_due_at == ny(2026, 6, 9, 10, 0)

        def tick(moment: datetime) -> dict:
            clock.move_to(moment)
            return escalation.escalate_overdue(timezone.now())

        assert tick(ny(2026, 6, 3, 10, 0))["coordinators"] == 0
        assert tick(ny(2026, 6, 4, 10, 0))["coordinators"] == 0  # due, not yet past due
        assert mail.outbox == []

        assert tick(ny(2026, 6, 4, 10, 1))["coordinators"] == 1
        assert tick(ny(2026, 6, 4, 10, 2))["coordinators"] == 0
        assert tick(ny(2026, 6, 8, 9, 0)) == {
            "urgent_alerts": 0,
            "coordinators": 0,
            "clinical_lead": 0,
            "lead_fallback": 0,
            "failed": 0,
        }
        [to_coordinators] = mail.outbox
        assert sorted(to_coordinators.to) == sorted(user.email for user in coordinators)
        assert "Overdue review" in to_coordinators.subject
        assert emails_to(lead) == []

        assert tick(ny(2026, 6, 9, 10, 1))["clinical_lead"] == 1
        for days in (1, 2, 10, 40):
            counts = tick(ny(2026, 6, 9, 10, 1) + timedelta(days=days))
            assert counts["coordinators"] == counts["clinical_lead"] == 0

    assert len(mail.outbox) == 2
    [to_lead] = emails_to(lead)
    assert to_lead.to == [lead.email]
    assert "clinical lead" in to_lead.subject
    for email in mail.outbox:
        assert_no_patient_data(email.subject + email.body)
    escalations = {e.level: e for e in FlagEscalation.objects.filter(flag=flag)}
    assert set(escalations) == {"coordinators", "clinical_lead"}
    assert escalations["coordinators"].notified == sorted(user.pk for user in coordinators)
    assert escalations["clinical_lead"].notified == [lead.pk]
    assert escalations["coordinators"].escalated_at == ny(2026, 6, 4, 10, 1)


def test_it_escalates_acknowledged_flags_but_never_resolved_ones(patient, coordinators):
    with time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False) as clock:
        acknowledged = report(patient, ROUTINE, timezone.now())
        resolved = report(patient, ROUTINE, timezone.now())
        lesions.acknowledge(acknowledged, by=coordinators[0])
        lesions.resolve(resolved, "benign", by=coordinators[0])

        clock.move_to(ny(2026, 6, 20, 10, 0))  # past both deadlines
        counts = escalation.escalate_overdue(timezone.now())

    assert counts["coordinators"] == counts["clinical_lead"] == 1
    assert set(FlagEscalation.objects.values_list("flag_id", flat=True)) == {acknowledged.pk}
    assert all(f"flag #{acknowledged.pk}" in email.subject for email in mail.outbox)


def test_it_sends_the_lead_escalation_to_coordinators_and_admins_without_a_lead(coordinators):
    cohort = CohortFactory(name="No lead", timezone="America/New_York", coordinators=coordinators)
    admin = UserFactory(username="root", role="admin")
    patient = PatientFactory(cohort=cohort)
    with time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False) as clock:
        report(patient, ROUTINE, timezone.now())
        clock.move_to(ny(2026, 6, 9, 10, 1))
        counts = escalation.escalate_overdue(timezone.now())

    assert counts["clinical_lead"] == 1 and counts["lead_fallback"] == 1
    to_lead = FlagEscalation.objects.get(level="clinical_lead")
    assert to_lead.notified == sorted([*(user.pk for user in coordinators), admin.pk])
    [email] = emails_to(admin)
    assert "no clinical lead" in email.body


def test_it_retries_an_escalation_whose_email_failed(patient, coordinators):
    with time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False) as clock:
        report(patient, ROUTINE, timezone.now())
        clock.move_to(ny(2026, 6, 4, 11, 0))
        with mock.patch.object(escalation, "send", side_effect=OSError("SMTP down")):
            failed = escalation.escalate_overdue(timezone.now())
        assert not FlagEscalation.objects.exists()  # the claim rolled back with the send

        clock.move_to(ny(2026, 6, 4, 11, 1))
        retried = escalation.escalate_overdue(timezone.now())

    assert failed["failed"] == 1 and failed["coordinators"] == 0
    assert retried["coordinators"] == 1
    assert len(mail.outbox) == 1


def test_it_skips_a_level_another_runner_claimed_first(patient):
    with time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False) as clock:
        flag = report(patient, ROUTINE, timezone.now())
        clock.move_to(ny(2026, 6, 4, 11, 0))
        [seen] = escalation._due_for("coordinators", "review_due_at", timezone.now())
        FlagEscalation.objects.create(flag=flag, level="coordinators")  # the other runner

        assert escalation._escalate(seen, "coordinators", timezone.now()) == ""

    assert mail.outbox == []
    assert FlagEscalation.objects.count() == 1


# --- Review deadlines in business days --------------------------------------------------


def test_it_gives_a_friday_evening_urgent_flag_until_monday_same_time(patient):
    with time_machine.travel(ny(2026, 6, 5, 19, 30), tick=False):
        flag = report(patient, URGENT, timezone.now())

    assert flag.urgency == "urgent"
    assert flag.review_due_at == ny(2026, 6, 8, 19, 30)
    assert flag.lead_escalation_due_at == ny(2026, 6, 9, 19, 30)


def test_it_pushes_the_deadline_past_a_holiday(patient):
    Holiday.objects.create(day=datetime(2026, 6, 8).date(), name="Closure day")
    with time_machine.travel(ny(2026, 6, 5, 19, 30), tick=False):
        flag = report(patient, URGENT, timezone.now())

    assert flag.review_due_at == ny(2026, 6, 9, 19, 30)
    assert flag.lead_escalation_due_at == ny(2026, 6, 10, 19, 30)


def test_it_gives_a_routine_flag_three_business_days(patient):
    with time_machine.travel(ny(2026, 6, 4, 9, 15), tick=False):  # Thursday
        flag = report(patient, ROUTINE, timezone.now())

    assert flag.urgency == "routine"
    assert flag.review_due_at == ny(2026, 6, 9, 9, 15)  # Fri, Mon, Tue
    assert flag.lead_escalation_due_at == ny(2026, 6, 12, 9, 15)


# --- Daily digest -----------------------------------------------------------------------


@pytest.fixture
def two_cohorts(db, settings):
    settings.DIGEST_HOUR = 7
    alice = UserFactory(username="alice", role="coordinator")
    bob = UserFactory(username="bob", role="coordinator")
    north = CohortFactory(name="A", timezone="America/New_York", coordinators=[alice])
    south = CohortFactory(name="B", timezone="Europe/London", coordinators=[bob])
    return alice, bob, north, south


def test_it_sends_each_coordinator_one_digest_a_day_at_the_local_digest_hour(two_cohorts):
    alice, bob, north, south = two_cohorts
    north_patient = PatientFactory(
        cohort=north,
        first_name="Rosalind",
        last_name="Example",
        mrn="MRN-SECRET-1",
        phone="+12015550177",
    )
    south_patient = PatientFactory(cohort=south, timezone="Europe/London")
    with time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False) as clock:
        ours = report(north_patient, ROUTINE, timezone.now())  # due Thu 4 June 10:00
        theirs = report(south_patient, ROUTINE, timezone.now())

        sent_per_hour = {}
        start = ny(2026, 6, 2, 0, 30)
        for hour in range(48):  # Tuesday and Wednesday, hourly like beat
            clock.move_to(start + timedelta(hours=hour))
            sent_per_hour[hour] = digest.send_daily_digests(timezone.now())

    # 07:00 London is 02:00 New York; 07:00 New York is 12:00 London.
    assert {hour: sent for hour, sent in sent_per_hour.items() if sent} == {
        2: 1,
        7: 1,
        26: 1,
        31: 1,
    }
    alices, bobs = emails_to(alice), emails_to(bob)
    assert len(alices) == len(bobs) == 2
    assert all(email.to == [alice.email] for email in alices)
    assert f"flag #{ours.pk}" in alices[0].body and f"flag #{theirs.pk}" not in alices[0].body
    assert f"flag #{theirs.pk}" in bobs[0].body and f"flag #{ours.pk}" not in bobs[0].body
    assert "Unresolved flags: 1" in alices[0].body
    assert "Daily digest 2026-06-02" in alices[0].subject
    for email in alices + bobs:
        assert_no_patient_data(email.subject + email.body)
    assert DigestDelivery.objects.filter(user=alice).count() == 2


def test_it_counts_flags_due_today_overdue_flags_and_overdue_visits(two_cohorts):
    alice, _, north, _ = two_cohorts
    patient = PatientFactory(cohort=north)
    patient.visits.all().delete()
    Visit.objects.create(
        patient=patient,
        kind="clinic",
        due_date=datetime(2026, 5, 20).date(),
        window_start=datetime(2026, 5, 6).date(),
        window_end=datetime(2026, 6, 3).date(),
    )
    with time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False) as clock:
        overdue = report(patient, URGENT, timezone.now())  # due Tue 2 June 10:00
        clock.move_to(ny(2026, 6, 1, 15, 0))
        due_today = report(patient, ROUTINE, timezone.now())  # due Thu 4 June 15:00
        clock.move_to(ny(2026, 6, 4, 7, 5))  # Thursday
        assert digest.send_daily_digests(timezone.now()) == 1

    [email] = emails_to(alice)
    assert "1 overdue, 1 due today, 2 unresolved" in email.subject
    assert "Overdue visits: 1" in email.body
    overdue_part, today_part = email.body.split("Due today:")
    assert f"flag #{overdue.pk} (urgent" in overdue_part
    assert f"flag #{due_today.pk} (routine" in today_part


def test_it_counts_the_overdue_visits_the_lists_show(two_cohorts, api):
    """Each cohort's by its own date (Tokyo is a day ahead of New York), and a withdrawn
    patient's booked visit, which staff must still cancel."""
    alice, _, north, _ = two_cohorts
    tokyo = CohortFactory(name="C", timezone="Asia/Tokyo", coordinators=[alice])
    ended = {"kind": "clinic", "due_date": date(2026, 5, 20), "window_start": date(2026, 5, 6)}
    there = PatientFactory(cohort=tokyo)
    Visit.objects.create(patient=there, window_end=date(2026, 6, 1), **ended)  # Tokyo's 2 June
    left = PatientFactory(cohort=north)
    booked = Visit.objects.create(patient=left, window_end=date(2026, 5, 29), **ended)
    Visit.objects.filter(pk=booked.pk).update(
        status=Visit.Status.BOOKED,
        booked_at=ny(2026, 5, 28, 9, 0),  # they never came
    )
    with time_machine.travel(ny(2026, 6, 1, 12, 0), tick=False):
        withdrawal.withdraw(left, "moved_away", date(2026, 6, 1))
        listed = api(alice).get("/api/v1/visits/", {"overdue": "true"}).json()["count"]
    with time_machine.travel(ny(2026, 6, 1, 12, 0), tick=False):
        assert digest.send_daily_digests(timezone.now()) == 1

    [email] = emails_to(alice)
    assert listed == 2
    assert f"Overdue visits: {listed}" in email.body


def test_it_sends_no_digest_when_nothing_is_open_and_not_later_that_day(two_cohorts):
    alice, bob, north, _ = two_cohorts
    patient = PatientFactory(cohort=north, treatment_end_date=datetime(2026, 6, 1).date())
    with time_machine.travel(ny(2026, 6, 1, 7, 0), tick=False) as clock:
        assert digest.send_daily_digests(timezone.now()) == 0
        clock.move_to(ny(2026, 6, 1, 9, 0))
        report(patient, ROUTINE, timezone.now())
        clock.move_to(ny(2026, 6, 1, 10, 0))
        assert digest.send_daily_digests(timezone.now()) == 0  # no mid-day digest
        clock.move_to(ny(2026, 6, 2, 7, 0))
        assert digest.send_daily_digests(timezone.now()) == 1

    assert len(emails_to(alice)) == 1 and emails_to(bob) == []


def test_it_catches_up_a_digest_missed_at_the_digest_hour(two_cohorts):
    alice, _, north, _ = two_cohorts
    with time_machine.travel(ny(2026, 6, 1, 10, 0), tick=False) as clock:
        report(PatientFactory(cohort=north), ROUTINE, timezone.now())
        clock.move_to(ny(2026, 6, 2, 9, 0))  # beat was down at 07:00 and 08:00
        assert digest.send_daily_digests(timezone.now()) == 1
        clock.move_to(ny(2026, 6, 2, 10, 0))
        assert digest.send_daily_digests(timezone.now()) == 0
