"""The outbox's two unique keys, kept by the database with leaner indexes.

Our idempotency key is unique on every row; the provider's sid is unique only
where set (a queued message has none), so the index holds the sent rows alone.
"""

import pytest
from django.db import IntegrityError, transaction

from notifications.models import Contact, Message


def outbound(contact, **fields):
    values = {
        "direction": "outbound",
        "kind": "self_exam",
        "body": "Time for your skin check.",
        "to_number": contact.number,
        "status": "queued",
    }
    return Message.objects.create(contact=contact, **(values | fields))


@pytest.fixture
def contact(db):
    return Contact.objects.create(number="+12015550123")


def test_two_messages_cannot_hold_one_provider_sid(contact):
    outbound(contact, status="sent", provider_sid="SM" + "a" * 32)
    with pytest.raises(IntegrityError), transaction.atomic():
        outbound(contact, status="sent", provider_sid="SM" + "a" * 32)


def test_any_number_of_messages_wait_without_a_sid(contact):
    for n in range(3):
        outbound(contact, idempotency_key=f"series:1:{n}")
    assert Message.objects.filter(provider_sid__isnull=True).count() == 3


def test_an_idempotency_key_is_written_once(contact):
    outbound(contact, idempotency_key="series:1:20260601T140000Z")
    with pytest.raises(IntegrityError), transaction.atomic():
        outbound(contact, idempotency_key="series:1:20260601T140000Z")
