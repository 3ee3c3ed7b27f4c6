"""After a provider outage the outbox resumes in the order its messages were due.

The dispatcher itself (`dispatch_due`, its wake-ups run in this process one batch
after another) drains through the real `twilio` SDK against the fake Twilio,
stopped for the outage and restarted. Holding for the outage and retrying move
a message's send_after; neither moves its place in line.
"""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import circuit, dispatch, tasks
from notifications.models import Message
from notifications.wakeups import send_messages
from tests.factories import PatientFactory
from tests.notifications.test_twilio_dispatch import queue

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def dispatcher(settings, monkeypatch):
    """`dispatch_due` with its wake-ups run here, in the order it sends them. One message a
    batch: within a batch, requests go SMS_SEND_THREADS at a time, in no order."""
    settings.SMS_DISPATCH_BATCH = 1
    monkeypatch.setattr(send_messages, "delay", send_messages)
    return tasks.dispatch_due


@pytest.fixture
def due_in_shuffled_order(clock):
    """Messages due over the last hour, in an order their ids do not follow; returns their
    ids by when they were due."""
    ids = [queue(PatientFactory(tier="high", timezone="America/New_York")).pk for _ in range(10)]
    order = ids[:]
    random.Random(7).shuffle(order)
    now = timezone.now()
    for minutes_ago, pk in zip(range(60, 0, -6), order, strict=True):
        Message.objects.filter(pk=pk).update(send_after=now - timedelta(minutes=minutes_ago))
    assert order != sorted(order)
    return order


def queued(ids) -> bool:
    return Message.objects.filter(pk__in=ids, status="queued").exists()


def test_after_an_outage_the_provider_receives_the_held_messages_in_due_order(
    fake, clock, dispatcher, due_in_shuffled_order
):
    ids = due_in_shuffled_order
    fake.stop()
    dispatcher()
    for _ in range(4):  # the outage lasts: each probe fails, the circuit opens again
        clock.shift(timedelta(seconds=45))
        dispatcher()
    assert circuit.status()["outage"] is True
    assert set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"queued"}

    fake.restart()
    for _ in range(60):
        if not queued(ids):
            break
        clock.shift(timedelta(seconds=30))
        dispatcher()

    sent = Message.objects.in_bulk(ids)
    assert {message.status for message in sent.values()} == {"sent"}
    assert {message.attempts for message in sent.values()} == {1}
    assert [m.sid for m in fake.messages] == [sent[pk].provider_sid for pk in ids]


def test_the_wake_ups_of_messages_due_at_once_come_in_id_order(clock):
    now = timezone.now()
    ids = [queue(PatientFactory(tier="high"), key="same").pk for _ in range(6)]
    for pk in reversed(ids):  # rewritten last to first: the table holds them backwards
        Message.objects.filter(pk=pk).update(send_after=now - timedelta(minutes=1))

    assert dispatch.take_wake_ups(now) == sorted(ids)
