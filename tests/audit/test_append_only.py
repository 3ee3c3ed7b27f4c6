"""The trail is append-only: in Python, and in PostgreSQL itself."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent, AuditEventError

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def event(alice):
    return AuditEvent.objects.create(
        user=alice, username="alice", action="view", object_type="patient", object_id="1"
    )


def test_it_refuses_to_save_an_existing_event(event):
    event.action = "update"

    with pytest.raises(AuditEventError):
        event.save()


def test_it_refuses_to_delete_an_event(event):
    with pytest.raises(AuditEventError):
        event.delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_it_refuses_update_in_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditevent SET username = %s WHERE id = %s",
                ["mallory", event.pk],
            )

    assert AuditEvent.objects.get(pk=event.pk).username == "alice"


def test_it_refuses_delete_in_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_it_refuses_queryset_update_and_delete(event):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="delete")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.get(pk=event.pk).action == "view"


def test_it_keeps_the_trail_when_the_user_is_deleted(event, alice):
    alice.delete()

    event = AuditEvent.objects.get(pk=event.pk)
    assert event.username == "alice"
    assert event.user_id is not None


@pytest.mark.django_db(transaction=True)
def test_it_still_lets_the_test_database_be_flushed():
    # Transactional tests flush tables with TRUNCATE after each test: the
    # trigger must not block it (the next test would fail if it did).
    AuditEvent.objects.create(username="x", action="view", object_type="patient")


@pytest.mark.django_db(transaction=True)
def test_it_starts_from_an_empty_trail_after_a_flush():
    assert AuditEvent.objects.count() == 0
