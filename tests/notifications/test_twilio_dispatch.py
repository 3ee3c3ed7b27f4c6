"""Dispatch through the real `twilio` SDK against the fake Twilio REST API.

The same journeys as test_dispatch.py, but every provider failure is a real
HTTP failure (429, 5xx, refused connection, read timeout, dropped connection,
permanent 4xx codes) injected by `tests.fake_twilio.FakeTwilio`. Each test
checks both sides: the outbox row (status, attempts, error_code,
provider_sid) and what the provider really recorded, because a lost or a
duplicated SMS matters clinically.

Time is frozen (the `time_machine` fixture) at 10:00 in New York; the fake's
HTTP thread sees the same frozen clock, while socket timeouts use real time.
"""

import random
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from cohorts import messaging
from notifications import claim, dispatch, reconcile
from notifications.backends import get_backend
from notifications.models import Contact, Message
from tests.factories import PatientFactory, UserFactory
from tests.fake_twilio import (
    FAKE_AUTH_TOKEN,
    FAKE_FROM_NUMBER,
    FAKE_MESSAGING_SERVICE_SID,
    status_params,
)
from tests.notifications.conftest import LEASE, PUBLIC_BASE_URL, STATUS_CALLBACK


def due_ids() -> list[int]:
    """Queued messages whose send_after has come."""
    return list(
        Message.objects.filter(status="queued", send_after__lte=timezone.now()).values_list(
            "pk", flat=True
        )
    )


pytestmark = [pytest.mark.django_db]


@pytest.fixture
def patient():
    return PatientFactory(tier="high", timezone="America/New_York")


def queue(patient, key="a", kind="self_exam"):
    return messaging.queue(patient, kind, f"twilio-test:{patient.pk}:{key}")


def row(message):
    message.refresh_from_db()
    return message


def to(fake, number):
    """What the fake accepted for `number`."""
    return [m for m in fake.messages if m.to == number]


def creates(fake):
    return [r for r in fake.requests if r.method == "POST"]


def coordinator_client(patient):
    user = UserFactory(role="coordinator")
    patient.cohort.coordinators.add(user)
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- 1. happy path -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_sid", "expect_from", "expect_service"),
    [
        ("", FAKE_FROM_NUMBER, None),
        (FAKE_MESSAGING_SERVICE_SID, None, FAKE_MESSAGING_SERVICE_SID),
    ],
    ids=["from-number", "messaging-service"],
)
def test_it_sends_once_through_twilio_and_records_the_sid(
    fake, patient, settings, service_sid, expect_from, expect_service
):
    settings.TWILIO_MESSAGING_SERVICE_SID = service_sid
    get_backend.cache_clear()
    message = queue(patient)

    assert dispatch.send(message.pk) == "sent"
    assert dispatch.send(message.pk) == "not claimable"

    message = row(message)
    [sent] = to(fake, patient.phone)
    assert (message.status, message.attempts, message.error_code) == ("sent", 1, "")
    assert message.provider_sid == sent.sid
    assert message.sent_at == timezone.now()
    assert message.lease_expires_at is None
    assert sent.body == message.body
    assert sent.status_callback == f"{STATUS_CALLBACK}?message={message.pk}"
    assert (sent.from_, sent.messaging_service_sid) == (expect_from, expect_service)
    assert len(creates(fake)) == 1


# --- 2. 429: surely not sent, retry with backoff ----------------------------------------


def test_it_requeues_a_rate_limited_message_with_backoff_and_sends_it_once_later(
    fake, patient, clock
):
    message = queue(patient)
    fake.fail_next("rate_limit")

    assert dispatch.send(message.pk) == "retry"

    message = row(message)
    # Surely not sent: the try is not an attempt (SMS_MAX_ATTEMPTS is for maybe-sent ones).
    assert (message.status, message.attempts, message.error_code) == ("queued", 0, "20429")
    assert message.provider_sid is None
    assert message.lease_expires_at is None
    backoff = message.send_after - timezone.now()
    assert timedelta(seconds=15) <= backoff <= timedelta(seconds=30)
    assert to(fake, patient.phone) == []
    assert dispatch.send(message.pk) == "not claimable"  # not before its send_after

    clock.shift(backoff + timedelta(seconds=1))
    assert dispatch.send(message.pk) == "sent"

    message = row(message)
    [sent] = to(fake, patient.phone)
    assert (message.status, message.attempts, message.error_code) == ("sent", 1, "")
    assert (message.provider_sid, message.error) == (sent.sid, "")


# --- 3. connection refused: surely not sent ---------------------------------------------


def test_it_requeues_when_twilio_refuses_the_connection_and_sends_after_restart(
    fake, patient, clock
):
    message = queue(patient)
    fake.stop()

    assert dispatch.send(message.pk) == "retry"

    message = row(message)
    assert (message.status, message.attempts, message.provider_sid) == ("queued", 0, None)
    assert message.send_after > timezone.now()
    assert message.error  # the connection error, for the dashboard
    assert reconcile.reconcile_stale(timezone.now())["requeued"] == 0  # not ambiguous

    fake.restart()
    clock.shift(message.send_after - timezone.now() + timedelta(seconds=1))
    assert dispatch.send(message.pk) == "sent"

    message = row(message)
    [sent] = to(fake, patient.phone)
    assert (message.status, message.attempts, message.provider_sid) == ("sent", 1, sent.sid)
    assert len(creates(fake)) == 1  # nothing reached the fake while it was down


# --- 4-7. ambiguous failures: look it up before any retry -------------------------------


@pytest.mark.parametrize(
    ("fault", "code"),
    [("server_error", "20500"), ("timeout", ""), ("disconnect", "")],
)
def test_it_looks_up_an_ambiguous_failure_that_was_not_sent_then_sends_once(
    fake, patient, clock, fault, code
):
    message = queue(patient)
    fake.fail_next(fault)

    assert dispatch.send(message.pk) == "ambiguous"

    message = row(message)
    assert (message.status, message.attempts, message.error_code) == ("sending", 1, code)
    assert message.provider_sid is None
    assert message.lease_expires_at <= timezone.now()  # expired: reconcile at once
    assert dispatch.send(message.pk) == "not claimable"  # never retried blind
    assert to(fake, patient.phone) == []

    assert reconcile.reconcile_stale(timezone.now()) == {
        "found_sent": 0,
        "requeued": 1,
        "failed": 0,
        "unknown": 0,
        "errors": 0,
    }
    message = row(message)
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.send_after > timezone.now()
    lookups = [r for r in fake.requests if r.method == "GET"]
    assert [r.query["To"] for r in lookups] == [patient.phone]

    clock.shift(message.send_after - timezone.now() + timedelta(seconds=1))
    assert dispatch.send(message.pk) == "sent"

    message = row(message)
    [sent] = to(fake, patient.phone)
    assert (message.status, message.attempts, message.provider_sid) == ("sent", 2, sent.sid)
    assert message.error_code == ""


@pytest.mark.parametrize("fault", ["crash_after_accept", "timeout_after_accept"])
def test_it_finds_an_accepted_message_after_an_ambiguous_failure_and_never_sends_it_again(
    fake, patient, clock, fault
):
    message = queue(patient)
    fake.fail_next(fault)

    assert dispatch.send(message.pk) == "ambiguous"

    message = row(message)
    [accepted] = to(fake, patient.phone)
    assert (message.status, message.attempts, message.provider_sid) == ("sending", 1, None)
    assert message.error_code == ("20500" if fault == "crash_after_accept" else "")
    assert dispatch.send(message.pk) == "not claimable"

    counts = reconcile.reconcile_stale(timezone.now())

    assert counts == {"found_sent": 1, "requeued": 0, "failed": 0, "unknown": 0, "errors": 0}
    message = row(message)
    assert (message.status, message.attempts) == ("sent", 1)
    assert message.provider_sid == accepted.sid
    assert message.sent_at == message.attempt_started_at
    assert message.lease_expires_at is None
    # error / error_code are deliberately not pinned here: reconciliation keeps the
    # ambiguous attempt's "20500" on a row that is now `sent` (see the report).

    # Later wake-ups, sweeps and reconciliations change nothing.
    clock.shift(timedelta(hours=1))
    assert dispatch.send(message.pk) == "not claimable"
    assert message.pk not in due_ids()
    assert reconcile.reconcile_stale(timezone.now())["found_sent"] == 0
    assert len(to(fake, patient.phone)) == 1
    assert len(creates(fake)) == 1
    assert row(message).status == "sent"


def test_it_does_not_give_one_messages_sid_to_another_with_the_same_text(fake, patient, clock):
    """Reconciliation matches on number and text: a sid already recorded on another
    row is not taken again (two reminders of the same kind have the same text)."""
    first = queue(patient, key="first")
    assert dispatch.send(first.pk) == "sent"
    second = queue(patient, key="second")
    Message.objects.filter(pk=second.pk).update(urgent=True)  # past the daily cap
    fake.fail_next("server_error")

    assert dispatch.send(second.pk) == "ambiguous"
    assert reconcile.reconcile_stale(timezone.now())["requeued"] == 1

    second = row(second)
    assert (second.status, second.provider_sid) == ("queued", None)
    clock.shift(second.send_after - timezone.now() + timedelta(seconds=1))
    assert dispatch.send(second.pk) == "sent"
    sids = {m.sid for m in to(fake, patient.phone)}
    assert len(sids) == 2
    assert {row(first).provider_sid, row(second).provider_sid} == sids


# --- 8. 21610: the recipient is unsubscribed --------------------------------------------


def test_it_stops_texting_a_patient_twilio_reports_as_unsubscribed(fake, patient, clock):
    message = queue(patient)
    later = queue(patient, key="later")
    fake.fail_next("unsubscribed")

    assert dispatch.send(message.pk) == "failed"

    message = row(message)
    assert (message.status, message.attempts, message.error_code) == ("undeliverable", 1, "21610")
    assert message.provider_sid is None
    assert message.lease_expires_at is None
    patient.refresh_from_db()
    assert patient.contact.opted_out_at == timezone.now()
    assert not patient.can_receive_sms
    assert to(fake, patient.phone) == []

    # Never retried: not due, not stale.
    clock.shift(timedelta(days=2))
    assert message.pk not in due_ids()
    assert reconcile.reconcile_stale(timezone.now())["requeued"] == 0
    assert dispatch.send(message.pk) == "not claimable"

    # Later messages to the patient are refused at claim, before any request.
    assert dispatch.send(later.pk) == "not claimable"
    later = row(later)
    assert (later.status, later.attempts, later.provider_sid) == ("undeliverable", 0, None)
    assert "opted out" in later.error
    assert len(creates(fake)) == 1
    assert to(fake, patient.phone) == []


# --- 9. 21211 / 21614: the number cannot take SMS ----------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "reason"),
    [
        ("invalid_number", "21211", "Twilio 21211: invalid number"),
        ("not_mobile", "21614", "Twilio 21614: not a mobile number"),
    ],
)
def test_it_marks_a_refused_number_on_the_patient_and_shows_it_in_the_api(
    fake, patient, clock, fault, code, reason
):
    message = queue(patient)
    later = queue(patient, key="later")
    fake.fail_next(fault)

    assert dispatch.send(message.pk) == "failed"

    message = row(message)
    assert (message.status, message.attempts, message.error_code) == ("undeliverable", 1, code)
    assert message.provider_sid is None
    patient.refresh_from_db()
    assert patient.contact.invalid_at == timezone.now()
    assert patient.contact.invalid_reason == reason
    assert patient.contact.opted_out_at is None

    clock.shift(timedelta(days=1))
    assert dispatch.send(later.pk) == "not claimable"
    later = row(later)
    assert later.status == "undeliverable"
    assert reason in later.error
    assert to(fake, patient.phone) == []
    assert len(creates(fake)) == 1

    response = coordinator_client(patient).get(f"/api/v1/patients/{patient.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["phone_invalid_at"] is not None
    assert body["phone_invalid_reason"] == reason
    assert body["sms_opted_out_at"] is None


# --- 10. never given up while surely unsent; expired, visible, at the end of its life ------


def test_a_rate_limited_message_is_never_failed_and_expires_at_the_end_of_its_life(
    fake, patient, clock, settings
):
    settings.SMS_MAX_ATTEMPTS = 3
    message = queue(patient)
    fake.fault_rate(1.0, kinds=["rate_limit"])

    results = []
    while row(message).status == "queued":
        clock.shift(row(message).send_after - timezone.now() + timedelta(seconds=1))
        results.append(dispatch.send(message.pk))

    message = row(message)
    # Not claimable: in quiet hours, then expired. A retry that comes due within a send's
    # timeout of quiet hours (the jitter decides) is claimed, then held there: landing late.
    may_happen = {"retry", "not claimable", "held: quiet hours"}
    assert {"retry", "not claimable"} <= set(results) <= may_happen
    assert results.count("retry") > settings.SMS_MAX_ATTEMPTS
    assert (message.status, message.attempts, message.provider_sid) == ("expired", 0, None)
    assert timezone.now() >= message.expires_at
    assert message.error.startswith("Not sent within its useful life")
    assert to(fake, patient.phone) == []

    response = coordinator_client(patient).get("/api/v1/messages/", {"status": "expired"})
    [item] = response.json()["results"]
    assert (item["id"], item["status"]) == (message.pk, "expired")
    assert item["error"]


def test_it_fails_an_ambiguous_message_at_max_attempts_only_when_the_provider_lacks_it(
    fake, patient, clock, settings
):
    settings.SMS_MAX_ATTEMPTS = 2
    message = queue(patient)
    fake.fail_next("server_error", times=2)

    assert dispatch.send(message.pk) == "ambiguous"
    assert reconcile.reconcile_stale(timezone.now())["requeued"] == 1
    clock.shift(row(message).send_after - timezone.now() + timedelta(seconds=1))
    assert dispatch.send(message.pk) == "ambiguous"
    assert reconcile.reconcile_stale(timezone.now())["failed"] == 1

    message = row(message)
    assert (message.status, message.attempts, message.provider_sid) == ("failed", 2, None)
    assert message.error.startswith("Gave up after 2 attempts")
    assert to(fake, patient.phone) == []


# --- 11. the lookup itself fails -------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "settled", "sent_count"),
    [("crash_after_accept", "sent", 1), ("server_error", "queued", 0)],
)
def test_it_keeps_a_message_sending_while_the_lookup_fails_and_settles_it_later(
    fake, patient, clock, fault, settled, sent_count
):
    message = queue(patient)
    fake.fail_next(fault)
    assert dispatch.send(message.pk) == "ambiguous"
    fake.fail_next("server_error", op="list")

    counts = reconcile.reconcile_stale(timezone.now())

    assert counts == {"found_sent": 0, "requeued": 0, "failed": 0, "unknown": 1, "errors": 0}
    message = row(message)
    assert (message.status, message.attempts, message.provider_sid) == ("sending", 1, None)
    assert message.lease_expires_at == timezone.now() + LEASE  # renewed, not requeued
    assert dispatch.send(message.pk) == "not claimable"
    assert reconcile.reconcile_stale(timezone.now())["unknown"] == 0  # not stale yet
    assert len(to(fake, patient.phone)) == sent_count

    clock.shift(LEASE)
    counts = reconcile.reconcile_stale(timezone.now())

    message = row(message)
    assert message.status == settled
    if settled == "sent":
        assert counts["found_sent"] == 1
        assert message.provider_sid == to(fake, patient.phone)[0].sid
    else:
        assert counts["requeued"] == 1
        clock.shift(message.send_after - timezone.now() + timedelta(seconds=1))
        assert dispatch.send(message.pk) == "sent"
        message = row(message)
        assert (message.status, message.attempts) == ("sent", 2)
        assert message.provider_sid == to(fake, patient.phone)[0].sid
    assert len(to(fake, patient.phone)) == 1


# --- 12. many messages under random faults ---------------------------------------------


def test_it_sends_exactly_one_sms_per_patient_under_twenty_percent_faults(fake, clock):
    random.seed(20260601)  # the backoff jitter, so the fault sequence is reproducible
    patients = [PatientFactory(timezone="America/New_York") for _ in range(50)]
    assert len({p.phone for p in patients}) == 50
    messages = [queue(p) for p in patients]
    fake.fault_rate(
        0.2,
        kinds=["rate_limit", "server_error", "crash_after_accept", "timeout_after_accept"],
        seed=7,
    )

    outcomes = []
    for _ in range(60):
        for pk in due_ids():
            outcomes.append(dispatch.send(pk))
        reconcile.reconcile_stale(timezone.now())
        pending = Message.objects.filter(
            pk__in=[m.pk for m in messages], status__in=["queued", "sending"]
        )
        if not pending.exists():
            break
        clock.shift(timedelta(minutes=1))

    faults = [r.fault for r in creates(fake) if r.fault]
    assert {"rate_limit", "server_error"} & set(faults), faults  # the run met faults
    assert {"crash_after_accept", "timeout_after_accept"} & set(faults), faults
    assert "ambiguous" in outcomes and "retry" in outcomes
    rows = list(Message.objects.filter(pk__in=[m.pk for m in messages]))
    assert {r.status for r in rows} == {"sent"}
    accepted = fake.messages
    assert sorted(m.to for m in accepted) == sorted(p.phone for p in patients)
    for p in patients:
        assert fake.count_to(p.phone) == 1, p.phone
    assert {r.provider_sid for r in rows} == {m.sid for m in accepted}
    by_sid = {m.sid: m for m in accepted}
    for r in rows:
        assert by_sid[r.provider_sid].to == r.to_number
        assert by_sid[r.provider_sid].body == r.body
    assert Contact.objects.filter(opted_out_at__isnull=False).count() == 0


# --- 10. a message's identity survives a lost response -----------------------------------


def twilio_calls_back(fake, sid: str, status: str = "sent"):
    """Twilio's signed status callback for `sid`, to the URL our backend gave it."""
    accepted = fake.get(sid)
    params = status_params(sid, status, to=accepted.to)
    signature = RequestValidator(FAKE_AUTH_TOKEN).compute_signature(
        accepted.status_callback, params
    )
    return Client().post(
        accepted.status_callback.removeprefix(PUBLIC_BASE_URL),
        params,
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def test_a_lost_response_is_settled_by_twilios_callback_naming_the_message(fake, patient, clock):
    message = queue(patient)
    fake.fail_next("crash_after_accept")
    assert dispatch.send(message.pk) == "ambiguous"
    [accepted] = to(fake, patient.phone)
    assert accepted.status_callback == f"{STATUS_CALLBACK}?message={message.pk}"

    assert twilio_calls_back(fake, accepted.sid, "delivered").status_code == 204

    message = row(message)
    assert (message.status, message.provider_sid) == ("delivered", accepted.sid)
    assert message.sent_at == message.attempt_started_at
    assert reconcile.reconcile_stale(timezone.now() + LEASE)["found_sent"] == 0
    assert len(creates(fake)) == 1


def test_a_callback_for_a_message_queued_again_stops_the_second_send(fake, patient, clock):
    message = queue(patient)
    fake.fail_next("crash_after_accept")
    dispatch.send(message.pk)
    Message.objects.filter(pk=message.pk).update(status="queued", lease_expires_at=None)

    twilio_calls_back(fake, to(fake, patient.phone)[0].sid)

    assert row(message).status == "sent"
    assert dispatch.send(message.pk) == "not claimable"
    assert len(creates(fake)) == 1


def test_a_callback_naming_another_message_changes_nothing(fake, patient, clock):
    sent = queue(patient, key="sent")
    assert dispatch.send(sent.pk) == "sent"
    other = queue(patient, key="other")
    [accepted] = to(fake, patient.phone)
    fake_url = f"{STATUS_CALLBACK}?message={other.pk}"
    params = status_params(accepted.sid, "delivered", to=accepted.to)
    signature = RequestValidator(FAKE_AUTH_TOKEN).compute_signature(fake_url, params)

    Client().post(fake_url.removeprefix(PUBLIC_BASE_URL), params, HTTP_X_TWILIO_SIGNATURE=signature)

    assert (row(other).status, row(other).provider_sid) == ("queued", None)
    assert row(sent).status == "delivered"


def test_two_identical_texts_lost_in_flight_get_their_own_sids_in_order(fake, patient, clock):
    first, second = queue(patient, key="first"), queue(patient, key="second")
    Message.objects.filter(pk__in=[first.pk, second.pk]).update(urgent=True)  # past the cap
    fake.fail_next("crash_after_accept", times=2)
    assert dispatch.send(first.pk) == "ambiguous"
    clock.shift(timedelta(seconds=30))
    assert dispatch.send(second.pk) == "ambiguous"
    older, newer = sorted(to(fake, patient.phone), key=lambda m: m.date_created)

    assert reconcile.reconcile_stale(timezone.now())["found_sent"] == 2

    assert (row(first).provider_sid, row(second).provider_sid) == (older.sid, newer.sid)


def test_the_providers_answer_takes_its_sid_back_from_a_wrong_match(fake, patient, clock):
    mine, other = queue(patient, key="mine"), queue(patient, key="other")
    claimed = claim.claim(mine.pk, timezone.now())
    Message.objects.filter(pk=other.pk).update(
        status="delivered", provider_sid="SM" + "a" * 32, attempts=1,
        attempt_started_at=timezone.now(),
    )  # fmt: skip

    dispatch._record_sent(claimed, "SM" + "a" * 32)

    assert (row(mine).status, row(mine).provider_sid) == ("delivered", "SM" + "a" * 32)
    other = row(other)
    assert (other.status, other.provider_sid) == ("sending", None)
    assert reconcile.reconcile_stale(timezone.now())["requeued"] == 1  # looked up again


# --- a STOP and a send in flight ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_send_in_flight_holds_the_numbers_row_so_a_stop_waits_for_it(fake, settings):
    import threading

    from django.db import DatabaseError, connection, transaction

    from tests.integration.sms_world import ensure_default_protocol, wait_until

    ensure_default_protocol()  # an earlier transactional test's flush took it
    patient = PatientFactory(tier="high", timezone="America/New_York")
    settings.TWILIO_TIMEOUT_SECONDS = 30
    fake.timeout_delay = 120  # Twilio accepts, then holds its answer until the fake stops
    fake.fail_next("timeout_after_accept")
    message = claim.claim(queue(patient).pk, timezone.now())
    outcome = []

    def send():
        outcome.append(dispatch.send_claimed(message))
        connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    wait_until(lambda: fake.messages, timeout=120, interval=0.05)  # at Twilio, unanswered

    # The STOP's UPDATE of the number's row would have to wait for the send.
    with pytest.raises(DatabaseError, match="could not obtain lock"), transaction.atomic():
        Contact.objects.select_for_update(nowait=True).get(pk=message.contact_id)
    fake.stop()  # Twilio answers at last
    sender.join(timeout=120)

    assert outcome == ["sent"]
    assert row(message).provider_sid == fake.messages[0].sid
    with transaction.atomic():  # and now the STOP goes through at once
        Contact.objects.select_for_update(nowait=True).get(pk=message.contact_id)
