"""The messages API (the coordinators' SMS view and inbox), check-in and upcoming sends."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from cohorts import messaging
from cohorts.models import Patient
from notifications.models import Message
from tests.factories import PatientFactory, UserFactory, change_patient, outbound
from tests.fake_twilio import new_sid

pytestmark = [pytest.mark.django_db]

MORNING = "2026-06-01 14:00Z"  # 10:00 in New York
NIGHT = "2026-06-02 03:30Z"  # 23:30 in New York
NEW_YORK = ZoneInfo("America/New_York")
MESSAGES = "/api/v1/messages/"


def inbound(patient, body="2", *, from_number=None, needs_review=True, **fields):
    return Message.objects.create(
        subject=patient,
        contact=patient.contact if patient else None,
        direction="inbound",
        kind="inbound",
        body=body,
        from_number=from_number or patient.phone,
        to_number="+12015550100",
        status="received",
        provider_sid=new_sid("SM"),
        routed_at=timezone.now(),
        routed_as="inbox" if needs_review else "self_exam_ok",
        needs_review=needs_review,
        **fields,
    )


def from_unknown_number(body="who is this?"):
    message = inbound(None, body, from_number="+12015550177")
    return message


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def when(text):
    return datetime.fromisoformat(text)


@pytest.fixture
def patient_a(cohort_a):
    return PatientFactory(cohort=cohort_a, timezone="America/New_York")


@pytest.fixture
def patient_b(cohort_b):
    return PatientFactory(cohort=cohort_b, timezone="America/New_York")


# --- /api/v1/messages/ ----------------------------------------------------------------


def test_a_coordinator_lists_only_the_messages_of_their_cohorts(
    api, alice, bob, patient_a, patient_b
):
    mine = {outbound(patient_a).pk, inbound(patient_a).pk}
    theirs = {outbound(patient_b).pk}

    body = api(alice).get(MESSAGES).json()

    assert set(body) >= {"count", "next", "previous", "results"}
    assert body["count"] == 2
    assert {row["id"] for row in body["results"]} == mine
    assert ids(api(bob).get(MESSAGES)) == theirs
    row = next(row for row in body["results"] if row["direction"] == "inbound")
    assert set(row) >= {"id", "patient", "direction", "kind", "body", "status", "provider_sid"}
    assert set(row) >= {"send_after", "sent_at", "error", "needs_review", "reviewed_by"}


def test_a_clinical_lead_sees_the_messages_of_the_cohorts_they_lead(api, patient_a, cohort_a):
    lead = UserFactory(username="lead", role="clinical_lead")
    cohort_a.clinical_leads.add(lead)
    message = outbound(patient_a)

    assert ids(api(lead).get(MESSAGES)) == {message.pk}


def test_the_message_list_is_paginated(api, alice, patient_a):
    Message.objects.bulk_create(
        [
            Message(
                subject=patient_a,
                contact=patient_a.contact,
                direction="outbound",
                kind="self_exam",
                body=f"reminder {n}",
                to_number=patient_a.phone,
                status="sent",
            )
            for n in range(55)
        ]
    )

    first = api(alice).get(MESSAGES).json()
    second = api(alice).get(MESSAGES, {"page": 2}).json()

    assert (first["count"], len(first["results"]), first["previous"]) == (55, 50, None)
    assert first["next"] is not None
    assert (len(second["results"]), second["next"]) == (5, None)
    assert second["previous"] is not None
    assert {r["id"] for r in first["results"]}.isdisjoint(r["id"] for r in second["results"])


def test_the_list_pages_its_two_parts_as_one_newest_first_and_filters_each(
    api, alice, patient_a, patient_b
):
    """About my patients, and from my patient's number about nobody yet: two parts of one
    list (cohorts.patient_messages.visible_messages), counted and paged together."""
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    written = []
    for minute in range(53):
        with time_machine.travel(start + timedelta(minutes=minute), tick=False):
            written.append(outbound(patient_a, status="sent").pk)
            outbound(patient_b)
            if minute in (10, 45):  # from patient_a's number, not assigned to anyone yet
                written.append(_unassigned_from(patient_a.contact).pk)
            if minute == 20:
                from_unknown_number()
    newest_first = written[::-1]
    client = api(alice)

    statements = []
    with connection.execute_wrapper(
        lambda run, sql, *args: statements.append(sql) or run(sql, *args)
    ):
        first = client.get(MESSAGES).json()
    second = client.get(MESSAGES, {"page": 2}).json()

    assert sum("COUNT(" in sql for sql in statements) == 2, "each part counted on its own"
    assert (first["count"], second["count"]) == (55, 55)
    assert [row["id"] for row in first["results"] + second["results"]] == newest_first
    inbound_only = client.get(MESSAGES, {"direction": "inbound"}).json()
    assert inbound_only["count"] == 2
    assert [row["id"] for row in inbound_only["results"]] == [newest_first[7], newest_first[43]]
    assert client.get(MESSAGES, {"patient": patient_a.pk}).json()["count"] == 53


def _unassigned_from(contact):
    return Message.objects.create(
        contact=contact,
        direction="inbound",
        kind="inbound",
        body="whose is this?",
        from_number=contact.number,
        to_number="+12015550100",
        status="received",
        needs_review=True,
    )


def test_the_message_list_filters_by_field(api, alice, cohort_a, patient_a):
    other = PatientFactory(cohort=cohort_a)
    queued = outbound(patient_a)
    sent = outbound(patient_a, status="sent")
    to_review = inbound(patient_a)
    understood = inbound(patient_a, "1", needs_review=False)
    elsewhere = outbound(other)
    client = api(alice)

    assert ids(client.get(MESSAGES, {"patient": patient_a.pk})) == {
        queued.pk,
        sent.pk,
        to_review.pk,
        understood.pk,
    }
    assert ids(client.get(MESSAGES, {"patient": other.pk})) == {elsewhere.pk}
    assert ids(client.get(MESSAGES, {"status": "sent"})) == {sent.pk}
    assert ids(client.get(MESSAGES, {"direction": "inbound"})) == {to_review.pk, understood.pk}
    assert ids(client.get(MESSAGES, {"needs_review": "true"})) == {to_review.pk}
    assert to_review.pk not in ids(client.get(MESSAGES, {"needs_review": "false"}))
    assert ids(client.get(MESSAGES, {"direction": "inbound", "needs_review": "true"})) == {
        to_review.pk
    }


def test_filtering_on_another_cohorts_patient_shows_nothing(api, alice, patient_b):
    outbound(patient_b)

    response = api(alice).get(MESSAGES, {"patient": patient_b.pk})

    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["count"] == 0


def test_another_cohorts_message_is_not_found(api, alice, bob, patient_a, patient_b):
    theirs = inbound(patient_b)

    assert api(alice).get(f"{MESSAGES}{theirs.pk}/").status_code == 404
    assert api(bob).get(f"{MESSAGES}{theirs.pk}/").status_code == 200


def test_only_an_admin_sees_messages_from_unknown_numbers(
    api, alice, bob, admin_user, patient_a, patient_b
):
    stranger = from_unknown_number()
    known = inbound(patient_a)

    assert ids(api(admin_user).get(MESSAGES)) == {stranger.pk, known.pk}
    detail = api(admin_user).get(f"{MESSAGES}{stranger.pk}/")
    assert detail.status_code == 200
    assert (detail.json()["patient"], detail.json()["needs_review"]) == (None, True)
    for coordinator in (alice, bob):
        assert stranger.pk not in ids(api(coordinator).get(MESSAGES))
        assert api(coordinator).get(f"{MESSAGES}{stranger.pk}/").status_code == 404


def test_messages_are_not_for_anonymous_users(patient_a):
    message = inbound(patient_a)
    client = APIClient()

    assert client.get(MESSAGES).status_code == 401
    assert client.get(f"{MESSAGES}{message.pk}/").status_code == 401
    assert client.post(f"{MESSAGES}{message.pk}/review/").status_code == 401
    assert Message.objects.get(pk=message.pk).needs_review


def test_messages_cannot_be_written_through_the_api(api, alice, patient_a):
    message = inbound(patient_a)
    client = api(alice)

    assert client.post(MESSAGES, {"body": "x"}, format="json").status_code == 405
    assert client.patch(f"{MESSAGES}{message.pk}/", {"body": "x"}, format="json").status_code == 405
    assert client.delete(f"{MESSAGES}{message.pk}/").status_code == 405
    assert Message.objects.get(pk=message.pk).body == "2"


def test_reviewing_a_message_clears_it_from_the_inbox(api, alice, admin_user, patient_a):
    message = inbound(patient_a, "I have a strange spot")

    response = api(alice).post(f"{MESSAGES}{message.pk}/review/")

    assert response.status_code == 200, response.content
    assert (response.json()["needs_review"], response.json()["reviewed_by"]) == (False, alice.pk)
    message.refresh_from_db()
    assert (message.needs_review, message.reviewed_by) == (False, alice)
    assert message.reviewed_at is not None
    assert message.body == "I have a strange spot"
    assert ids(api(alice).get(MESSAGES, {"needs_review": "true"})) == set()
    # A second review (by someone else) keeps the first reviewer.
    api(admin_user).post(f"{MESSAGES}{message.pk}/review/")
    message.refresh_from_db()
    assert message.reviewed_by == alice


def test_another_cohorts_message_cannot_be_reviewed(api, alice, patient_b):
    message = inbound(patient_b)

    assert api(alice).post(f"{MESSAGES}{message.pk}/review/").status_code == 404

    message.refresh_from_db()
    assert (message.needs_review, message.reviewed_by, message.reviewed_at) == (True, None, None)


def test_only_an_admin_can_review_a_message_from_an_unknown_number(api, alice, admin_user):
    stranger = from_unknown_number()

    assert api(alice).post(f"{MESSAGES}{stranger.pk}/review/").status_code == 404
    assert api(admin_user).post(f"{MESSAGES}{stranger.pk}/review/").status_code == 200

    stranger.refresh_from_db()
    assert (stranger.needs_review, stranger.reviewed_by) == (False, admin_user)


# --- POST /api/v1/patients/{id}/check-in/ -----------------------------------------------


def check_in(client, patient):
    return client.post(f"/api/v1/patients/{patient.pk}/check-in/")


@time_machine.travel(MORNING, tick=False)
def test_a_check_in_is_queued_to_go_now(api, alice, patient_a):
    response = check_in(api(alice), patient_a)

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["held_because"] == ""
    assert when(body["will_send_at"]) == timezone.now()
    assert body["message"]["kind"] == "check_in"
    assert body["message"]["status"] == "queued"
    assert body["message"]["patient"] == patient_a.pk
    assert "North Hospital" in body["message"]["body"]
    message = Message.objects.get(patient=patient_a)
    assert (message.pk, message.kind, message.status) == (
        body["message"]["id"],
        "check_in",
        "queued",
    )
    assert message.to_number == patient_a.phone


def test_a_double_clicked_check_in_queues_one_message_and_says_so(api, alice, patient_a):
    with time_machine.travel(MORNING, tick=False):
        first = check_in(api(alice), patient_a)
        second = check_in(api(alice), patient_a)

    assert (first.status_code, second.status_code) == (202, 409)
    assert second.json()["message"] == first.json()["message"]["id"]
    assert "already" in second.json()["detail"]
    assert Message.objects.filter(patient=patient_a, kind="check_in").count() == 1

    with time_machine.travel(when(MORNING) + timedelta(minutes=11), tick=False):
        assert check_in(api(alice), patient_a).status_code == 202  # a new one, later
    assert Message.objects.filter(patient=patient_a, kind="check_in").count() == 2


@time_machine.travel(NIGHT, tick=False)
def test_a_check_in_at_night_waits_for_eight_local(api, alice, patient_a):
    response = check_in(api(alice), patient_a)

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["held_because"] == "quiet_hours"
    will_send_at = when(body["will_send_at"])
    assert will_send_at.astimezone(NEW_YORK) == datetime(2026, 6, 2, 8, 0, tzinfo=NEW_YORK)
    assert will_send_at == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)
    assert body["message"]["status"] == "queued"


@time_machine.travel(MORNING, tick=False)
@pytest.mark.parametrize(
    "change",
    [
        {"sms_consent": False},
        {"sms_opted_out_at": datetime(2026, 5, 1, tzinfo=UTC)},
        {"phone_invalid_at": datetime(2026, 5, 1, tzinfo=UTC), "phone_invalid_reason": "21211"},
        {"is_active": False},
    ],
    ids=["no consent", "opted out", "invalid number", "no longer followed up"],
)
def test_a_check_in_for_a_patient_who_cannot_get_sms_is_refused(api, alice, patient_a, change):
    change_patient(patient_a, **change)

    response = check_in(api(alice), patient_a)

    assert response.status_code == 409, response.content
    assert response.json()["detail"]
    assert not Message.objects.filter(patient=patient_a).exists()


@time_machine.travel(MORNING, tick=False)
def test_a_check_in_for_another_cohorts_patient_is_not_found(api, bob, patient_a):
    response = check_in(api(bob), patient_a)

    assert response.status_code == 404
    assert not Message.objects.exists()


@time_machine.travel(MORNING, tick=False)
def test_a_check_in_needs_a_login(patient_a):
    response = check_in(APIClient(), patient_a)

    assert response.status_code == 401
    assert not Message.objects.exists()


# --- GET /api/v1/patients/{id}/upcoming/ -------------------------------------------------


def upcoming(client, patient):
    response = client.get(f"/api/v1/patients/{patient.pk}/upcoming/")
    assert response.status_code == 200, response.content
    return response.json()


@time_machine.travel(MORNING, tick=False)
def test_upcoming_lists_queued_messages_reminders_and_visit_reminders_in_time_order(
    api, alice, cohort_a
):
    patient = PatientFactory(cohort=cohort_a, tier="high", timezone="America/New_York")
    queued = messaging.queue(patient, "check_in", "check_in:upcoming")
    visit = patient.visits.filter(status="planned").order_by("due_date").first()
    appointment = timezone.now() + timedelta(days=10)
    visit.book(appointment)
    sent = outbound(patient, status="sent", sent_at=timezone.now() - timedelta(days=2))

    sends = upcoming(api(alice), patient)

    assert {send["source"] for send in sends} == {"outbox", "reminder_series", "visit"}
    times = [when(send["due_at"]) for send in sends]
    assert times == sorted(times)
    assert all(time >= timezone.now() for time in times)
    from_outbox = [send for send in sends if send["source"] == "outbox"]
    assert len(from_outbox) == 1  # the sent message is not upcoming
    assert from_outbox[0]["kind"] == queued.kind
    visit_reminder = next(send for send in sends if send["source"] == "visit")
    assert visit_reminder["kind"] == "visit_reminder"
    assert when(visit_reminder["due_at"]) == appointment - timedelta(days=7)
    series = [send for send in sends if send["source"] == "reminder_series"]
    assert series and all(send["kind"] == "self_exam" for send in series)
    assert sent.status == "sent"


@time_machine.travel(MORNING, tick=False)
def test_upcoming_shows_a_quiet_hours_hold(api, alice, patient_a):
    with time_machine.travel(NIGHT, tick=False):
        messaging.queue(patient_a, "self_exam", "series:night")
        sends = upcoming(api(alice), patient_a)

    held = next(send for send in sends if send["source"] == "outbox")
    assert held["held_because"] == "quiet_hours"
    assert when(held["due_at"]) == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


@time_machine.travel(MORNING, tick=False)
def test_pausing_reminders_shows_a_queued_routine_message_as_paused(api, alice, patient_a):
    routine = messaging.queue(patient_a, "self_exam", "series:paused")
    reply = messaging.queue(patient_a, "help", "help:1", is_reply=True, contact="")
    client = api(alice)

    response = client.patch(
        f"/api/v1/patients/{patient_a.pk}/",
        {"reminders_paused_until": "2026-06-10"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["reminders_paused_until"] == "2026-06-10"
    sends = upcoming(client, patient_a)
    queued = {send["kind"]: send for send in sends if send["source"] == "outbox"}
    assert set(queued) == {"self_exam", "help"}
    assert queued["self_exam"]["held_because"] == "paused"
    resume = datetime(2026, 6, 11, 8, 0, tzinfo=NEW_YORK)
    assert when(queued["self_exam"]["due_at"]) == resume
    assert queued["help"]["held_because"] == ""  # a reply is not held by a pause
    assert Message.objects.filter(pk__in=[routine.pk, reply.pk], status="queued").count() == 2

    client.patch(
        f"/api/v1/patients/{patient_a.pk}/", {"reminders_paused_until": None}, format="json"
    )
    sends = upcoming(client, patient_a)
    assert (
        next(s for s in sends if s["kind"] == "self_exam" and s["source"] == "outbox")[
            "held_because"
        ]
        == ""
    )


@time_machine.travel(MORNING, tick=False)
def test_upcoming_does_not_promise_series_reminders_during_a_pause(api, alice, cohort_a):
    patient = PatientFactory(cohort=cohort_a, tier="very_high", timezone="America/New_York")
    paused_until = date(2026, 8, 31)
    Patient.objects.filter(pk=patient.pk).update(reminders_paused_until=paused_until)

    sends = upcoming(api(alice), patient)

    during_pause = [
        send
        for send in sends
        if send["source"] == "reminder_series"
        and when(send["due_at"]).astimezone(NEW_YORK).date() <= paused_until
    ]
    after_pause = [
        send for send in sends if send["source"] == "reminder_series" and send not in during_pause
    ]
    assert during_pause, "the test needs reminders that fall in the pause"
    assert all(send["held_because"] == "paused" for send in during_pause)
    assert all(send["held_because"] == "" for send in after_pause)


def test_upcoming_for_another_cohorts_patient_is_not_found(api, bob, patient_a):
    assert api(bob).get(f"/api/v1/patients/{patient_a.pk}/upcoming/").status_code == 404


@time_machine.travel(MORNING, tick=False)
def test_a_patient_no_longer_followed_up_gets_no_more_routine_sms(api, alice, patient_a):
    routine = outbound(patient_a)
    reply = outbound(patient_a, kind="help", is_reply=True)
    sent = outbound(patient_a, status="sent")

    response = api(alice).patch(
        f"/api/v1/patients/{patient_a.pk}/", {"is_active": False}, format="json"
    )

    assert response.status_code == 200, response.content
    statuses = {
        message.pk: Message.objects.get(pk=message.pk).status for message in (routine, reply, sent)
    }
    assert statuses == {routine.pk: "cancelled", reply.pk: "queued", sent.pk: "sent"}
    assert "no longer followed up" in Message.objects.get(pk=routine.pk).error
