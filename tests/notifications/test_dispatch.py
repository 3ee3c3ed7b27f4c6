import importlib
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from cohorts import messaging
from notifications import claim, dispatch, reconcile
from notifications.backends import get_backend
from notifications.models import Message
from tests.factories import PatientFactory, change_patient

pytestmark = [pytest.mark.django_db]
MORNING = "2026-06-01 14:00Z"  # 10:00 in New York
NIGHT = "2026-06-02 03:30Z"  # 23:30 in New York


@pytest.fixture
def patient():
    return PatientFactory(tier="high", timezone="America/New_York")


def queue(patient, kind="self_exam", key=None, **options):
    return messaging.queue(
        patient, kind, key or f"test:{kind}:{timezone.now().timestamp()}", **options
    )


@time_machine.travel(MORNING)
def test_it_sends_a_due_message_once(patient, sms_outbox):
    message = queue(patient)

    assert dispatch.send(message.pk) == "sent"
    assert dispatch.send(message.pk) == "not claimable"

    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)
    assert message.provider_sid == sms_outbox[0].sid
    assert [sent.to for sent in sms_outbox] == [patient.phone]


@time_machine.travel(NIGHT)
def test_it_holds_a_night_message_until_eight_local(patient, sms_outbox):
    message = queue(patient)

    assert dispatch.send(message.pk) == "not claimable"

    message.refresh_from_db()
    assert message.status == "queued"
    assert message.hold_reason == "quiet_hours"
    assert timezone.localtime(message.send_after, patient_zone(patient)).hour == 8
    assert sms_outbox == []


def patient_zone(patient):
    from zoneinfo import ZoneInfo

    return ZoneInfo(patient.timezone)


@time_machine.travel(MORNING)
def test_it_holds_the_second_routine_message_of_the_day_but_not_a_reply(patient, sms_outbox):
    first, second = queue(patient, key="a"), queue(patient, key="b")
    reply = queue(patient, kind="help", key="c", is_reply=True, contact="")

    results = [dispatch.send(m.pk) for m in (first, second, reply)]

    assert results == ["sent", "not claimable", "sent"]
    second.refresh_from_db()
    assert second.hold_reason == "frequency_cap"
    assert second.send_after >= timezone.now() + timedelta(hours=23)


@time_machine.travel(MORNING)
def test_a_visit_reminder_outranks_the_days_self_exam_reminder(patient, sms_outbox):
    self_exam = queue(patient, key="self-exam")
    visit_reminder = queue(patient, kind="check_in", key="visit", time_critical=True)

    results = [dispatch.send(m.pk) for m in (self_exam, visit_reminder)]

    # The self-exam came first, but the visit reminder waiting to go is the day's one.
    assert results == ["not claimable", "sent"]
    self_exam.refresh_from_db()
    assert self_exam.hold_reason == "frequency_cap"
    assert self_exam.send_after >= timezone.now() + timedelta(hours=23)
    assert [sent.body for sent in sms_outbox] == [visit_reminder.body]


@time_machine.travel(MORNING)
def test_a_visit_reminder_in_the_same_batch_goes_and_the_self_exam_waits(patient, sms_outbox):
    self_exam = queue(patient, key="self-exam")
    visit_reminder = queue(patient, kind="check_in", key="visit", time_critical=True)

    claimed = claim.claim_many([self_exam.pk, visit_reminder.pk], timezone.now())

    assert [message.pk for message in claimed] == [visit_reminder.pk]
    self_exam.refresh_from_db()
    assert (self_exam.status, self_exam.hold_reason) == ("queued", "frequency_cap")


@time_machine.travel(MORNING)
def test_a_visit_reminder_due_later_today_makes_the_self_exam_wait_for_it(patient, sms_outbox):
    self_exam = queue(patient, key="self-exam")
    visit_reminder = queue(patient, kind="check_in", key="visit", time_critical=True)
    in_five_hours = timezone.now() + timedelta(hours=5)
    Message.objects.filter(pk=visit_reminder.pk).update(send_after=in_five_hours)

    assert dispatch.send(self_exam.pk) == "not claimable"

    self_exam.refresh_from_db()
    assert self_exam.hold_reason == "frequency_cap"
    assert self_exam.send_after >= in_five_hours + timedelta(days=1)


@time_machine.travel(MORNING)
def test_a_visit_reminder_days_away_does_not_hold_todays_self_exam(patient, sms_outbox):
    self_exam = queue(patient, key="self-exam")
    visit_reminder = queue(patient, kind="check_in", key="visit", time_critical=True)
    in_three_days = timezone.now() + timedelta(days=3)
    Message.objects.filter(pk=visit_reminder.pk).update(send_after=in_three_days)

    assert dispatch.send(self_exam.pk) == "sent"


@time_machine.travel(MORNING)
def test_a_visit_reminder_sent_first_makes_the_self_exam_wait(patient, sms_outbox):
    visit_reminder = queue(patient, kind="check_in", key="visit", time_critical=True)
    self_exam = queue(patient, key="self-exam")

    assert [dispatch.send(m.pk) for m in (visit_reminder, self_exam)] == [
        "sent",
        "not claimable",
    ]


@time_machine.travel(MORNING)
def test_a_message_another_worker_is_sending_counts_against_the_cap(patient, sms_outbox):
    first, second = queue(patient, key="a"), queue(patient, key="b")
    claimed = claim.claim(first.pk, timezone.now())  # a worker is mid-send: no sent_at yet

    assert claimed is not None
    assert claim.claim(second.pk, timezone.now()) is None

    second.refresh_from_db()
    assert (second.status, second.hold_reason) == ("queued", "frequency_cap")


@time_machine.travel(MORNING)
@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"sms_consent": False}, "No SMS consent."),
        ({"sms_opted_out_at": timezone.now()}, "The number opted out (STOP)."),
    ],
)
def test_it_never_texts_a_patient_without_consent(patient, sms_outbox, change, error):
    message = queue(patient)
    change_patient(patient, **change)

    dispatch.send(message.pk)

    message.refresh_from_db()
    assert (message.status, message.error) == ("undeliverable", error)
    assert sms_outbox == []


@time_machine.travel(MORNING)
def test_a_worker_killed_after_the_provider_call_does_not_send_twice(patient, sms_outbox):
    message = queue(patient)
    claimed = claim.claim(message.pk, timezone.now())
    get_backend().send(claimed)  # the provider has it; the worker dies before recording

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        counts = reconcile.reconcile_stale(timezone.now())
        assert dispatch.send(message.pk) == "not claimable"

    assert counts["found_sent"] == 1
    message.refresh_from_db()
    assert message.status == "sent"
    assert len(sms_outbox) == 1


@time_machine.travel(MORNING)
def test_a_worker_killed_before_the_provider_call_sends_later(patient, sms_outbox):
    message = queue(patient)
    claim.claim(message.pk, timezone.now())  # the worker dies here

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert reconcile.reconcile_stale(timezone.now())["requeued"] == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert dispatch.send(message.pk) == "sent"

    assert len(sms_outbox) == 1
    message.refresh_from_db()
    assert message.attempts == 2


@time_machine.travel(MORNING)
def test_it_wakes_a_dispatcher_once_per_due_message_until_the_wake_up_seems_lost(patient):
    later = queue(patient, key="later", send_after=timezone.now() + timedelta(minutes=5))
    now = queue(patient, key="now")

    first = dispatch.take_wake_ups(timezone.now())
    again = dispatch.take_wake_ups(timezone.now())
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        lost = dispatch.take_wake_ups(timezone.now())

    assert (first, again) == ([now.pk], [])
    assert set(lost) == {now.pk, later.pk}
    assert Message.objects.count() == 2


def test_it_backs_off_exponentially_with_jitter_up_to_an_hour():
    delays = [reconcile.backoff(attempt).total_seconds() for attempt in range(1, 12)]

    assert 15 <= delays[0] <= 30
    assert all(delay <= 3600 for delay in delays)
    assert delays[-1] >= 1800


@time_machine.travel(MORNING)
def test_a_held_back_message_is_woken_again_when_its_time_comes(patient):
    first, second = queue(patient, key="first"), queue(patient, key="second")
    dispatch.take_wake_ups(timezone.now())
    dispatch.send(first.pk)
    dispatch.send(second.pk)  # held by the daily cap

    second.refresh_from_db()
    with time_machine.travel(second.send_after + timedelta(seconds=1)):
        assert dispatch.take_wake_ups(timezone.now()) == [second.pk]


# --- what the claim checked still holds when the message leaves ---------------------------


@time_machine.travel(MORNING)
def test_a_stop_that_came_in_after_the_claim_stops_the_message(patient, sms_outbox):
    message = claim.claim(queue(patient).pk, timezone.now())
    patient.contact.opted_out_at = timezone.now()
    patient.contact.save()

    assert dispatch.send_claimed(message) == "undeliverable"

    message.refresh_from_db()
    assert (message.status, message.error) == ("undeliverable", "The number opted out (STOP).")
    assert sms_outbox == []


@time_machine.travel("2026-06-02 00:59:59Z")  # 20:59:59 in New York
def test_a_message_that_could_land_after_nine_pm_waits_for_the_morning(patient, sms_outbox):
    message = claim.claim(queue(patient).pk, timezone.now())
    assert message is not None  # still inside the window when claimed

    assert dispatch.send_claimed(message) == "held: quiet hours"

    message.refresh_from_db()
    assert (message.status, message.attempts, message.hold_reason) == ("queued", 0, "quiet_hours")
    assert timezone.localtime(message.send_after, patient_zone(patient)).isoformat() == (
        "2026-06-02T08:00:00-04:00"
    )
    assert sms_outbox == []


@time_machine.travel(MORNING)
def test_no_sending_slot_claims_nothing_and_wakes_the_message_again(patient, sms_outbox, settings):
    from django.core.cache import cache

    from notifications.sender_rate import sender_key

    settings.SMS_RATE_PER_SECOND, settings.SMS_LEASE_SECONDS = 1, 3
    message = queue(patient)
    Message.objects.filter(pk=message.pk).update(woken_at=timezone.now())
    # Every slot of the next seconds is taken: the wait (a third of the lease) runs out.
    second = int(timezone.now().timestamp())
    cache.set_many({f"sms-rate:{sender_key()}:{second + n}": 1 for n in range(5)}, 10)

    assert dispatch.send(message.pk) == "no sending slot"

    message.refresh_from_db()
    assert (message.status, message.attempts, message.woken_at) == ("queued", 0, None)
    assert sms_outbox == []


@pytest.mark.django_db(transaction=True)
@time_machine.travel(MORNING)
def test_a_second_waker_waits_for_the_first_to_commit_and_locks_nothing_it_woke():
    """Side by side, a waker could lock the rows the other just woke and hold them while the
    claims of those wake-ups skipped them (dispatch.take_wake_ups)."""
    # the data migration's protocol: a `transactional_db` flush of an earlier test drops it
    importlib.import_module("scheduling.migrations.0001_initial").load_default_protocol(apps, None)
    message = queue(PatientFactory(tier="high", timezone="America/New_York"))
    woken, release = threading.Event(), threading.Event()
    first = {}

    def first_waker():
        try:
            with transaction.atomic():
                first["ids"] = dispatch.take_wake_ups(timezone.now())
                woken.set()
                release.wait(60)
        finally:
            connection.close()

    holder = threading.Thread(target=first_waker)
    holder.start()
    assert woken.wait(60)
    second = {}

    def second_waker():
        try:
            connection.ensure_connection()
            second["pid"] = connection.connection.info.backend_pid
            second["ids"] = dispatch.take_wake_ups(timezone.now())
        finally:
            connection.close()

    waiter = threading.Thread(target=second_waker)
    try:
        waiter.start()
        assert _waits_on_an_advisory_lock(second), "the second waker did not wait"
    finally:
        release.set()
        holder.join(60)
        waiter.join(60)

    assert (first["ids"], second["ids"]) == ([message.pk], [])
    assert [m.pk for m in claim.claim_many([message.pk], timezone.now())] == [message.pk]


def _waits_on_an_advisory_lock(session: dict, patience: float = 60) -> bool:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event = 'advisory'",
                [session.get("pid")],
            )
            if cursor.fetchone():
                return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
@time_machine.travel(MORNING)
def test_workers_claiming_side_by_side_never_pass_the_cap_together():
    """Six workers, thirty routine messages for one number, all let go at once: one goes."""
    importlib.import_module("scheduling.migrations.0001_initial").load_default_protocol(apps, None)
    patient = PatientFactory(tier="high", timezone="America/New_York")
    ids = [queue(patient, key=f"self-exam-{n}").pk for n in range(30)]
    workers = 6
    start, claimed, crashed = threading.Barrier(workers), [], []

    def worker(mine: list[int]) -> None:
        try:
            start.wait(60)
            for first in range(0, len(mine), 2):
                batch = claim.claim_many(mine[first : first + 2], timezone.now())
                claimed.extend(message.pk for message in batch)
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            crashed.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(ids[n::workers],)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert crashed == []
    assert len(claimed) == 1
    held = Message.objects.filter(pk__in=ids).exclude(pk__in=claimed)
    assert set(held.values_list("status", "hold_reason")) == {("queued", "frequency_cap")}
