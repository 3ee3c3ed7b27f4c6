"""Set-based writes: the same rows as Django's bulk methods, in one statement each."""

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import JSONField
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from bulk_sql import writes
from notifications import outbox
from notifications.models import Contact, Message
from scheduling.models import ReminderSeries, Visit
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
        writes.insert(built)

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


def test_rows_given_as_values_take_defaults_for_what_they_leave_out():
    contacts = _contacts(2)
    rows = [
        outbox.fields(c.pk, c.number, c.language, "self_exam", f"rows:{c.pk}", site="North")
        for c in contacts
    ]

    with CaptureQueriesContext(connection) as captured:
        writes.insert_rows(Message, rows)

    assert len(captured) == 1
    stored = list(Message.objects.filter(idempotency_key__startswith="rows:").order_by("pk"))
    assert [(m.contact_id, m.to_number, m.kind) for m in stored] == [
        (c.pk, c.number, "self_exam") for c in contacts
    ]
    assert all(m.attempts == 0 and m.error == "" and m.sent_at is None for m in stored)
    assert all(m.created_on == m.modified_on and m.created_on is not None for m in stored)
    assert stored[0].body == outbox.build(contacts[0], "self_exam", "x", site="North").body


def test_it_skips_rows_whose_unique_key_exists_and_writes_the_others():
    first, second = _contacts(2)
    writes.insert(_messages([first]), ignore_conflicts=True)
    original = Message.objects.get(contact=first)

    writes.insert(_messages([first, second], urgent=True), ignore_conflicts=True)

    assert Message.objects.get(contact=first) == original
    assert not Message.objects.get(contact=first).urgent
    assert Message.objects.get(contact=second).urgent


def test_it_writes_a_single_row():
    (contact,) = _contacts(1)

    writes.insert(_messages([contact]))

    assert Message.objects.filter(contact=contact).count() == 1


def _update_rows(rows, fields):
    """`writes.update_rows` given the instances' values, as the sweep holds them."""
    values = [{"pk": row.pk} | {name: getattr(row, name) for name in fields} for row in rows]
    return writes.update_rows(Message, values, fields)


@pytest.mark.parametrize("write", [writes.update, _update_rows], ids=["instances", "values"])
def test_it_sets_each_rows_own_values_in_one_statement(write):
    contacts = _contacts(3)
    writes.insert(_messages(contacts))
    rows = list(Message.objects.order_by("pk"))
    now = timezone.now()
    for row, (send_after, error) in zip(
        rows, [(now, "a"), (now + timedelta(hours=1), "b"), (None, "a")], strict=True
    ):
        row.send_after, row.error = send_after, error

    with CaptureQueriesContext(connection) as captured:
        written = write(rows, ["send_after", "error"])

    assert len(captured) == 1
    assert sorted(written) == [row.pk for row in rows]
    assert list(Message.objects.order_by("pk").values_list("send_after", "error")) == [
        (now, "a"),
        (now + timedelta(hours=1), "b"),
        (None, "a"),
    ]


def test_it_refuses_a_duplicate_unless_told_to_skip_it():
    (contact,) = _contacts(1)
    writes.insert(_messages([contact]))

    with pytest.raises(IntegrityError), transaction.atomic():
        writes.insert(_messages([contact]))

    assert Message.objects.filter(contact=contact).count() == 1


def test_it_does_nothing_for_no_rows():
    with CaptureQueriesContext(connection) as captured:
        writes.insert([])
        writes.update([], ["send_after"])
        writes.update_rows(Message, [], ["send_after"])

    assert len(captured) == 0


def test_a_guarded_update_leaves_rows_that_changed_meanwhile_and_says_which_it_wrote():
    contacts = _contacts(3)
    writes.insert(_messages(contacts))
    rows = list(Message.objects.order_by("pk"))
    Message.objects.filter(pk=rows[1].pk).update(attempts=7)  # another worker took it
    Message.objects.filter(pk=rows[2].pk).update(status="cancelled")
    for row in rows:
        row.error = "guarded"

    written = writes.update(rows, ["error"], match=["attempts"], where={"status": "queued"})

    assert written == [rows[0].pk]
    assert list(Message.objects.order_by("pk").values_list("error", flat=True)) == [
        "guarded",
        "",
        "",
    ]


def test_create_gives_each_instance_its_own_key_and_the_sequence_goes_on():
    contacts = [Contact(number=f"+1201555{n:04d}", language="es") for n in range(150, 153)]

    writes.create(contacts)

    stored = Contact.objects.in_bulk([contact.pk for contact in contacts])
    assert [stored[contact.pk].number for contact in contacts] == [c.number for c in contacts]
    assert all(not contact._state.adding for contact in contacts)
    later = Contact.objects.create(number="+12015550160")
    assert later.pk > max(contact.pk for contact in contacts)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=0, max_value=2**62),
    st.text(max_size=20),
    st.sampled_from(list(Message.Status)),
    st.dates(),
    st.datetimes(),  # naive
    st.datetimes(timezones=st.sampled_from([UTC, ZoneInfo("America/Chicago")])),
)
_FIELDS = [
    field
    for model in (Message, Visit, ReminderSeries)
    for field in model._meta.concrete_fields
    if not isinstance(field, JSONField)
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # naive datetimes, as Django warns
@given(field=st.sampled_from(_FIELDS), values=st.lists(_VALUES, max_size=5))
def test_values_go_to_the_database_as_django_would_send_them(field, values):
    taken, expected = [], []
    for value in values:
        try:
            expected.append(field.get_db_prep_save(value, connection))
        except (TypeError, ValueError, ValidationError):
            continue  # not a value this field takes
        taken.append(value)
    assert writes._db_values(field, taken, connection) == expected
