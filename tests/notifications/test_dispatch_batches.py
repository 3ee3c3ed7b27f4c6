"""Dispatch a batch at a time: one claim, concurrent sends, one record, the same rules."""

from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cohorts import messaging
from notifications import circuit, dispatch, tasks
from notifications.backends import LocmemBackend
from notifications.models import Message
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]
MORNING = "2026-06-01 14:00Z"  # 10:00 in New York


def patients(count: int) -> list:
    return [PatientFactory(tier="high", timezone="America/New_York") for _ in range(count)]


def queue(patient, key: str, kind="self_exam") -> Message:
    return messaging.queue(patient, kind, key)


def statuses(messages) -> list[str]:
    return [Message.objects.get(pk=message.pk).status for message in messages]


@time_machine.travel(MORNING)
def test_a_batch_costs_the_same_queries_whatever_its_size(sms_outbox):
    def queries_to_send(count: int, tag: str) -> int:
        ids = [queue(patient, f"{tag}:{n}").pk for n, patient in enumerate(patients(count))]
        with CaptureQueriesContext(connection) as captured:
            outcomes = dispatch.send_many(ids)
        assert set(outcomes.values()) == {"sent"}
        return len(captured)

    assert queries_to_send(3, "small") == queries_to_send(30, "large")
    assert len(sms_outbox) == 33
    assert len({sent.sid for sent in sms_outbox}) == 33


@time_machine.travel(MORNING)
def test_the_cap_holds_a_second_routine_message_to_the_same_number_in_one_batch(sms_outbox):
    (patient,) = patients(1)
    first, second = queue(patient, "first"), queue(patient, "second")

    outcomes = dispatch.send_many([first.pk, second.pk])

    assert outcomes == {first.pk: "sent", second.pk: "not claimable"}
    assert statuses([first, second]) == ["sent", "queued"]
    assert Message.objects.get(pk=second.pk).hold_reason == "frequency_cap"
    assert len(sms_outbox) == 1


@time_machine.travel(MORNING)
def test_one_message_no_longer_wanted_does_not_hold_up_the_others(sms_outbox):
    staying, leaving = patients(2)
    kept, dropped = queue(staying, "kept"), queue(leaving, "dropped")
    leaving.is_active = False
    leaving.save(update_fields=["is_active"])

    outcomes = dispatch.send_many([kept.pk, dropped.pk])

    assert outcomes == {kept.pk: "sent", dropped.pk: "not claimable"}
    assert statuses([kept, dropped]) == ["sent", "cancelled"]
    assert [sent.to for sent in sms_outbox] == [staying.phone]


@time_machine.travel(MORNING)
def test_a_send_that_breaks_unexpectedly_is_looked_up_later_and_the_rest_are_recorded(
    sms_outbox, monkeypatch
):
    broken, fine = patients(2)
    first, second = queue(broken, "broken"), queue(fine, "fine")
    send = LocmemBackend.send

    def breaks_for_one(self, message):
        if message.to_number == broken.phone:
            raise ValueError("a defect in the transport")
        return send(self, message)

    monkeypatch.setattr(LocmemBackend, "send", breaks_for_one)

    outcomes = dispatch.send_many([first.pk, second.pk])

    assert outcomes == {first.pk: "ambiguous", second.pk: "sent"}
    first.refresh_from_db()
    assert (first.status, first.lease_expires_at <= timezone.now()) == ("sending", True)
    assert statuses([second]) == ["sent"]


@time_machine.travel(MORNING, tick=False)
def test_while_the_circuit_is_half_open_one_message_probes_and_the_rest_wait(sms_outbox):
    ids = [queue(patient, f"probe:{n}").pk for n, patient in enumerate(patients(3))]
    cache.set_many({circuit.FAILURES: circuit.FAILURES_TO_OPEN})
    try:
        outcomes = dispatch.send_many(ids)
    finally:
        cache.delete_many([circuit.FAILURES, circuit.PROBE])

    assert list(outcomes.values()) == ["sent", "held: provider outage", "held: provider outage"]
    waiting = Message.objects.filter(pk__in=ids[1:])
    assert {m.send_after for m in waiting} == {timezone.now() + circuit.PROBE_WAIT}
    assert {m.attempts for m in waiting} == {0}
    assert len(sms_outbox) == 1


@time_machine.travel(MORNING)
def test_dispatch_due_wakes_the_workers_a_batch_of_ids_at_a_time(settings, monkeypatch):
    settings.SMS_DISPATCH_BATCH = 2
    ids = [queue(patient, f"due:{n}").pk for n, patient in enumerate(patients(5))]
    batches = []
    monkeypatch.setattr(tasks.send_messages, "delay", batches.append)

    assert tasks.dispatch_due() == 5

    assert batches == [ids[:2], ids[2:4], ids[4:]]


def test_a_batch_ends_within_a_third_of_the_lease_even_if_every_request_times_out(settings):
    settings.SMS_DISPATCH_BATCH, settings.SMS_SEND_THREADS = 500, 8
    settings.SMS_LEASE_SECONDS, settings.TWILIO_TIMEOUT_SECONDS = 300, 10

    assert tasks.batch_size() == 80  # 10 rounds of 8 requests, 10 s each: 100 s

    settings.SMS_LEASE_SECONDS = 30
    assert tasks.batch_size() == 8  # one round


@time_machine.travel("2026-06-02 00:59:45Z")  # 20:59:45 in New York
def test_a_batch_that_could_land_after_nine_pm_waits_for_the_morning(sms_outbox, settings):
    # One request (up to 10 s) would land in time; two over one thread may take 20 s.
    settings.SMS_SEND_THREADS = 1
    ids = [queue(patient, f"late:{n}").pk for n, patient in enumerate(patients(2))]

    outcomes = dispatch.send_many(ids)

    assert set(outcomes.values()) == {"held: quiet hours"}
    held = Message.objects.filter(pk__in=ids)
    assert {m.attempts for m in held} == {0}
    assert {timezone.localtime(m.send_after, ZoneInfo("America/New_York")).hour for m in held} == {
        8
    }
    assert sms_outbox == []
