"""Set-based writes: the same rows as Django's bulk methods, in one statement each."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bulk_sql.writes import insert_ignoring_conflicts, update_column
from notifications import outbox
from notifications.models import Contact, Message
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _messages(contacts, kind="self_exam", **options):
    return [
        outbox.build(contact, kind, f"test:{contact.pk}:{kind}", site="North", **options)
        for contact in contacts
    ]


def _contacts(count: int) -> list[Contact]:
    return [PatientFactory().contact for _ in range(count)]


def test_it_inserts_rows_whose_columns_differ_and_agree():
    contacts = _contacts(3)
    contacts[1].language = "es"
    built = _messages(contacts, expires_at=timezone.now() + timedelta(days=1))

    with CaptureQueriesContext(connection) as captured:
        insert_ignoring_conflicts(built)

    assert len(captured) == 1
    stored = {m.contact_id: m for m in Message.objects.filter(idempotency_key__startswith="test:")}
    assert set(stored) == {contact.pk for contact in contacts}
    for message in built:
        row = stored[message.contact_id]
        assert (row.body, row.to_number, row.kind, row.status) == (
            message.body,
            message.to_number,
            "self_exam",
            Message.Status.QUEUED,
        )
        assert row.expires_at == message.expires_at
        assert row.subject_id is None and row.sent_at is None and row.error == ""
        assert row.created_on is not None and row.modified_on is not None
    assert stored[contacts[1].pk].body != stored[contacts[0].pk].body  # Spanish


def test_it_skips_rows_whose_unique_key_exists_and_writes_the_others():
    first, second = _contacts(2)
    insert_ignoring_conflicts(_messages([first]))
    original = Message.objects.get(contact=first)

    insert_ignoring_conflicts(_messages([first, second], urgent=True))

    assert Message.objects.get(contact=first) == original
    assert not Message.objects.get(contact=first).urgent
    assert Message.objects.get(contact=second).urgent


def test_it_writes_a_single_row():
    (contact,) = _contacts(1)

    insert_ignoring_conflicts(_messages([contact]))

    assert Message.objects.filter(contact=contact).count() == 1


def test_it_sets_each_rows_own_value_in_one_statement():
    contacts = _contacts(3)
    insert_ignoring_conflicts(_messages(contacts))
    ids = list(Message.objects.order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    new = {ids[0]: now, ids[1]: now + timedelta(hours=1), ids[2]: None}

    with CaptureQueriesContext(connection) as captured:
        update_column(Message, "send_after", new)

    assert len(captured) == 1
    assert dict(Message.objects.values_list("pk", "send_after")) == new


def test_it_does_nothing_for_no_rows():
    with CaptureQueriesContext(connection) as captured:
        insert_ignoring_conflicts([])
        update_column(Message, "send_after", {})

    assert len(captured) == 0
