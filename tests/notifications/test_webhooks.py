"""The signed Twilio webhooks: inbound SMS (stored first, then routed) and status callbacks.

Everything goes through Django's test client, signed like Twilio signs: the
public URL (settings.PUBLIC_BASE_URL + path) and the form fields, with
settings.TWILIO_AUTH_TOKEN. Nothing a patient writes may be lost, and a
request without a valid signature must change nothing.
"""

from urllib.parse import urlencode

import pytest
import time_machine
from django.utils import timezone

from cohorts import messaging
from cohorts.models import Patient
from notifications import claim, dispatch, hooks, inbound
from notifications.models import EarlyStatus, Message
from tests.factories import CohortFactory, PatientFactory
from tests.fake_twilio import (
    FAKE_AUTH_TOKEN,
    inbound_sms_params,
    new_sid,
    public_url,
    signed_post_kwargs,
    status_params,
    twilio_signature,
)

pytestmark = [pytest.mark.django_db]

SMS_PATH = "/webhooks/twilio/sms/"
STATUS_PATH = "/webhooks/twilio/status/"
MORNING = "2026-06-01 14:00Z"  # 10:00 in New York: SMS may go out
PHONE = "+12015550123"
OTHER_PHONE = "+12015550124"
UNKNOWN_PHONE = "+12015550177"
OTHER_TOKEN = "another-auth-token-not-ours-000000"


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.PUBLIC_BASE_URL = "https://surveillance.example.org"
    settings.TWILIO_AUTH_TOKEN = FAKE_AUTH_TOKEN
    # The per-sender rate limit keys its counter by wall-clock second; every test
    # travels to the same second, so it would make sends wait. Not under test here.
    settings.SMS_RATE_PER_SECOND = 0


@pytest.fixture(autouse=True)
def morning():
    with time_machine.travel(MORNING, tick=True):
        yield


@pytest.fixture
def cohort():
    return CohortFactory(site="North Hospital", contact_phone="+12015550199")


@pytest.fixture
def patient(cohort):
    return PatientFactory(cohort=cohort, phone=PHONE, timezone="America/New_York")


@pytest.fixture
def handlers(monkeypatch):
    """A fresh, empty handler registry for this test only."""
    fresh = []
    monkeypatch.setattr(hooks, "_reply_handlers", fresh)
    return fresh


def post_signed(client, path, params, *, token=FAKE_AUTH_TOKEN, signed_url=None):
    return client.post(path, **signed_post_kwargs(signed_url or public_url(path), params, token))


def send_sms(client, body, from_=PHONE, **options):
    return post_signed(client, SMS_PATH, inbound_sms_params(from_, body, **options))


def inbound_message(sid):
    return Message.objects.get(provider_sid=sid, direction="inbound")


def patient_state(patient):
    return Patient.objects.filter(pk=patient.pk).values().get()


def sent_message(patient, key="reminder"):
    """A routine reminder actually sent through the locmem backend (it has a provider sid)."""
    message = messaging.queue(patient, "self_exam", key)
    assert dispatch.send(message.pk) == "sent"
    message.refresh_from_db()
    return message


def post_status(client, message_sid, status, error_code=None):
    params = status_params(message_sid, status, to=PHONE, error_code=error_code)
    return post_signed(client, STATUS_PATH, params)


# --- signatures and bad requests ------------------------------------------------


def forged_requests(path, params):
    """Keyword arguments for the client: unsigned or signed wrongly in each way."""
    url = public_url(path)
    other_path = STATUS_PATH if path == SMS_PATH else SMS_PATH
    tampered = dict(params)
    for name in ("Body", "MessageStatus"):
        if name in tampered:
            tampered[name] = "delivered" if name == "MessageStatus" else "HELP"
    form = {"data": urlencode(params), "content_type": "application/x-www-form-urlencoded"}
    return {
        "missing signature": form,
        "empty signature": {**form, "HTTP_X_TWILIO_SIGNATURE": ""},
        "another token": signed_post_kwargs(url, params, OTHER_TOKEN),
        "another path": signed_post_kwargs(public_url(other_path), params),
        "another host": signed_post_kwargs("https://evil.example.org" + path, params),
        "body tampered after signing": {
            "data": urlencode(tampered),
            "content_type": "application/x-www-form-urlencoded",
            "HTTP_X_TWILIO_SIGNATURE": twilio_signature(url, params),
        },
        "query added after signing": {**signed_post_kwargs(url, params), "QUERY_STRING": "x=1"},
    }


FORGERIES = list(forged_requests(SMS_PATH, {"Body": "", "MessageStatus": ""}))


@pytest.mark.parametrize("forgery", FORGERIES)
def test_it_refuses_an_inbound_sms_without_a_valid_signature(client, patient, forgery):
    params = inbound_sms_params(PHONE, "STOP")
    before = patient_state(patient)

    response = client.post(SMS_PATH, **forged_requests(SMS_PATH, params)[forgery])

    assert response.status_code == 403
    assert Message.objects.count() == 0
    assert patient_state(patient) == before


@pytest.mark.parametrize("forgery", FORGERIES)
def test_it_refuses_a_status_callback_without_a_valid_signature(client, patient, forgery):
    message = sent_message(patient)
    params = status_params(message.provider_sid, "undelivered", to=PHONE, error_code=21610)
    before, count = patient_state(patient), Message.objects.count()

    response = client.post(STATUS_PATH, **forged_requests(STATUS_PATH, params)[forgery])

    assert response.status_code == 403
    assert Message.objects.count() == count
    assert Message.objects.get(pk=message.pk).status == "sent"
    assert patient_state(patient) == before


def test_it_refuses_every_request_when_no_auth_token_is_configured(client, patient, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    params = inbound_sms_params(PHONE, "STOP")

    response = client.post(SMS_PATH, **signed_post_kwargs(public_url(SMS_PATH), params, ""))

    assert response.status_code == 403
    assert Message.objects.count() == 0


def test_it_checks_the_signature_over_the_query_string_too(client, patient):
    path = SMS_PATH + "?source=primary"

    response = post_signed(client, path, inbound_sms_params(PHONE, "hello"))

    assert response.status_code == 200
    assert Message.objects.filter(direction="inbound").count() == 1


@pytest.mark.parametrize("missing", ["MessageSid", "From", "Body"])
def test_it_answers_400_to_an_inbound_sms_missing_a_field(client, patient, missing):
    params = inbound_sms_params(PHONE, "STOP")
    del params[missing]
    before = patient_state(patient)

    response = post_signed(client, SMS_PATH, params)

    assert response.status_code == 400
    assert missing in response.content.decode()
    assert Message.objects.count() == 0
    assert patient_state(patient) == before


@pytest.mark.parametrize("missing", ["MessageSid", "MessageStatus"])
def test_it_answers_400_to_a_status_callback_missing_a_field(client, patient, missing):
    message = sent_message(patient)
    params = status_params(message.provider_sid, "delivered", to=PHONE)
    del params[missing]

    response = post_signed(client, STATUS_PATH, params)

    assert response.status_code == 400
    assert Message.objects.get(pk=message.pk).status == "sent"


@pytest.mark.parametrize("path", [SMS_PATH, STATUS_PATH])
def test_it_answers_405_to_a_get(client, path):
    response = client.get(path, HTTP_X_TWILIO_SIGNATURE=twilio_signature(public_url(path), {}))

    assert response.status_code == 405
    assert Message.objects.count() == 0


# --- storing --------------------------------------------------------------------


def test_it_stores_an_inbound_sms_and_answers_with_twiml(client, patient):
    params = inbound_sms_params(PHONE, "Hello, a question about my appointment")

    response = post_signed(client, SMS_PATH, params)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response>" in response.content
    message = inbound_message(params["MessageSid"])
    assert message.subject == patient
    assert (message.direction, message.kind, message.status) == ("inbound", "inbound", "received")
    assert message.body == "Hello, a question about my appointment"
    assert (message.from_number, message.to_number) == (PHONE, params["To"])
    assert message.routed_at is not None


def test_a_replayed_inbound_sms_stores_and_routes_nothing_new(client, patient, handlers):
    calls = []
    handlers.append(lambda message: calls.append(message.pk) or "")
    help_params = inbound_sms_params(PHONE, "HELP")
    other_params = inbound_sms_params(PHONE, "something else")

    for params in (help_params, other_params, help_params, other_params):
        assert post_signed(client, SMS_PATH, params).status_code == 200

    assert Message.objects.filter(direction="inbound").count() == 2
    assert Message.objects.filter(kind="help").count() == 1
    assert calls == [inbound_message(other_params["MessageSid"]).pk]


# --- routing: STOP, START, HELP ---------------------------------------------------

STOP_BODIES = ["STOP", "stop", "Stop.", "  stop  ", "STOP!", "stopall", "Unsubscribe", "cancel"]
STOP_BODIES += ["END", "quit", "Quit.", "\tStop\n"]


@pytest.mark.parametrize("body", STOP_BODIES)
def test_stop_opts_the_patient_out(client, patient, body):
    params = inbound_sms_params(PHONE, body)

    assert post_signed(client, SMS_PATH, params).status_code == 200

    patient.refresh_from_db()
    assert patient.contact.opted_out_at is not None
    message = inbound_message(params["MessageSid"])
    assert (message.routed_as, message.body) == ("opt_out", body)
    assert not Message.objects.filter(direction="outbound").exists()


@pytest.mark.parametrize("body", ["Stop,", "STOP?", '"stop"'])
def test_stop_with_other_punctuation_opts_the_patient_out(client, patient, body):
    params = inbound_sms_params(PHONE, body)

    post_signed(client, SMS_PATH, params)

    patient.refresh_from_db()
    assert patient.contact.opted_out_at is not None


def test_after_stop_a_queued_reminder_is_refused_at_dispatch(client, patient, sms_outbox):
    reminder = messaging.queue(patient, "self_exam", "series:1:20260601")

    send_sms(client, "Stop.")

    assert dispatch.send(reminder.pk) == "not claimable"
    reminder.refresh_from_db()
    assert reminder.status == "undeliverable"
    assert "opted out" in reminder.error
    assert sms_outbox == []


def test_a_second_stop_keeps_the_first_opt_out_time(client, patient):
    send_sms(client, "STOP")
    first = Patient.objects.get(pk=patient.pk).contact.opted_out_at

    with time_machine.travel("2026-06-02 14:00Z"):
        send_sms(client, "STOP")

    assert Patient.objects.get(pk=patient.pk).contact.opted_out_at == first


@pytest.mark.parametrize("word", ["START", "unstop", "Start."])
def test_start_opts_the_patient_back_in_and_confirms(client, patient, sms_outbox, word):
    send_sms(client, "STOP")
    params = inbound_sms_params(PHONE, word)

    post_signed(client, SMS_PATH, params)

    patient.refresh_from_db()
    assert patient.contact.opted_out_at is None
    assert inbound_message(params["MessageSid"]).routed_as == "opt_in"
    reply = Message.objects.get(kind="opted_in")
    assert (reply.subject, reply.is_reply, reply.status) == (patient, True, "queued")
    assert dispatch.send(reply.pk) == "sent"
    assert [sent.body for sent in sms_outbox] == [reply.body]


def test_help_answers_with_the_cohort_contact_in_english(client, patient):
    params = inbound_sms_params(PHONE, "help")

    post_signed(client, SMS_PATH, params)

    assert inbound_message(params["MessageSid"]).routed_as == "help"
    reply = Message.objects.get(kind="help")
    assert (reply.subject, reply.is_reply, reply.status) == (patient, True, "queued")
    assert "call +12015550199" in reply.body
    assert "North Hospital" in reply.body


def test_help_answers_a_spanish_speaking_patient_in_spanish(client, cohort):
    PatientFactory(cohort=cohort, phone=OTHER_PHONE, language="es")

    send_sms(client, "HELP", from_=OTHER_PHONE)

    reply = Message.objects.get(kind="help")
    assert "llame al +12015550199" in reply.body
    assert reply.body.startswith("Su equipo de atención")
    assert "call" not in reply.body


def test_help_without_a_cohort_contact_number_still_answers(client, patient, cohort):
    cohort.contact_phone = ""
    cohort.save()

    send_sms(client, "HELP")

    assert "call" not in Message.objects.get(kind="help").body


# --- routing: what nobody understands goes to a person -------------------------

INBOX_BODIES = {
    "garbage": "asdf qwer zxcv",
    "emoji only": "🙂👍🏽",
    "text with emoji": "I have a new red spot 😟 near the scar",
    "empty": "",
    "long": "I noticed something on my skin. " * 60,
    "one": "1",
    "two": "2",
    "stop inside a sentence": "please do not stop my reminders",
    "start while opted in": "START",
    "non latin": "Привет, 你好",
}


@pytest.mark.parametrize("body", INBOX_BODIES.values(), ids=INBOX_BODIES.keys())
def test_what_nobody_understands_goes_to_the_inbox_verbatim(client, patient, handlers, body):
    params = inbound_sms_params(PHONE, body)

    response = post_signed(client, SMS_PATH, params)

    assert response.status_code == 200
    message = inbound_message(params["MessageSid"])
    assert message.body == body
    assert message.subject == patient
    assert (message.routed_as, message.needs_review) == ("inbox", True)
    assert message.routed_at is not None
    patient.refresh_from_db()
    assert patient.contact.opted_out_at is None


def test_an_sms_from_an_unknown_number_is_kept_for_review(client, patient):
    params = inbound_sms_params(UNKNOWN_PHONE, "Hello, is this the clinic?")

    post_signed(client, SMS_PATH, params)

    message = inbound_message(params["MessageSid"])
    assert message.subject is None
    assert (message.routed_as, message.needs_review) == ("inbox", True)
    assert message.body == "Hello, is this the clinic?"
    assert message.from_number == UNKNOWN_PHONE


def test_stop_from_an_unknown_number_is_kept_against_that_number(client, patient):
    params = inbound_sms_params(UNKNOWN_PHONE, "STOP")

    post_signed(client, SMS_PATH, params)

    message = inbound_message(params["MessageSid"])
    assert (message.subject, message.routed_as) == (None, "opt_out")
    assert message.contact.number == UNKNOWN_PHONE
    assert message.contact.opted_out_at is not None
    patient.refresh_from_db()
    assert patient.contact.opted_out_at is None


def test_a_report_from_a_number_two_patients_share_is_a_flag_kept_for_review(
    client, cohort, patient
):
    sibling = PatientFactory(cohort=cohort, phone=PHONE)
    params = inbound_sms_params(PHONE, "2")

    post_signed(client, SMS_PATH, params)

    message = inbound_message(params["MessageSid"])
    assert message.subject is None
    assert (message.routed_as, message.needs_review) == ("shared_phone_flag", True)
    assert sibling.contact_id == patient.contact_id


def test_stop_from_a_shared_number_stops_that_number(client, cohort, patient):
    sibling = PatientFactory(cohort=cohort, phone=PHONE)
    params = inbound_sms_params(PHONE, "STOP")

    post_signed(client, SMS_PATH, params)

    assert inbound_message(params["MessageSid"]).routed_as == "opt_out"
    for someone in (patient, sibling):
        someone.refresh_from_db()
        assert someone.contact.opted_out_at is not None


def test_an_inactive_patient_sharing_the_number_does_not_hide_the_active_one(client, cohort):
    PatientFactory(cohort=cohort, phone=PHONE, is_active=False)
    active = PatientFactory(cohort=cohort, phone=PHONE)
    params = inbound_sms_params(PHONE, "hi")

    post_signed(client, SMS_PATH, params)

    assert inbound_message(params["MessageSid"]).subject == active


def test_start_from_a_number_shared_across_sites_opts_it_back_in_without_naming_a_site(
    client, patient, sms_outbox
):
    PatientFactory(cohort=CohortFactory(site="South Clinic"), phone=PHONE)
    send_sms(client, "STOP")
    params = inbound_sms_params(PHONE, "START")

    post_signed(client, SMS_PATH, params)

    patient.refresh_from_db()
    assert patient.contact.opted_out_at is None
    assert inbound_message(params["MessageSid"]).routed_as == "opt_in"
    reply = Message.objects.get(kind="opted_in")
    assert (reply.subject, reply.is_reply) == (None, True)
    assert "your clinic" in reply.body
    assert "North Hospital" not in reply.body and "South Clinic" not in reply.body
    assert dispatch.send(reply.pk) == "sent"
    assert [sent.body for sent in sms_outbox] == [reply.body]


@pytest.mark.parametrize("shared_across_sites", [True, False], ids=["shared", "unknown"])
def test_help_from_a_number_of_no_one_site_is_answered_without_naming_one(
    client, patient, shared_across_sites
):
    if shared_across_sites:
        PatientFactory(cohort=CohortFactory(site="South Clinic"), phone=PHONE)
    number = PHONE if shared_across_sites else UNKNOWN_PHONE
    params = inbound_sms_params(number, "HELP")

    post_signed(client, SMS_PATH, params)

    assert inbound_message(params["MessageSid"]).routed_as == "help"
    reply = Message.objects.get(kind="help")
    assert (reply.to_number, reply.is_reply, reply.status) == (number, True, "queued")
    assert reply.body.startswith("Your care team at your clinic.")
    assert "Reply STOP" in reply.body


# --- handlers registered by other apps ------------------------------------------


def test_a_registered_handler_gets_the_message_before_the_inbox(client, patient, handlers):
    seen = []

    @hooks.handles_replies
    def self_exam_answer(message):
        seen.append((message.body, messaging.patient_of(message)))
        return "self_exam_ok" if message.body.strip() == "1" else ""

    answered, other = inbound_sms_params(PHONE, "1"), inbound_sms_params(PHONE, "what?")
    post_signed(client, SMS_PATH, answered)
    post_signed(client, SMS_PATH, other)

    assert hooks.handles_replies(self_exam_answer) is self_exam_answer
    assert handlers == [self_exam_answer]
    assert seen == [("1", patient), ("what?", patient)]
    first, second = inbound_message(answered["MessageSid"]), inbound_message(other["MessageSid"])
    assert (first.routed_as, first.needs_review) == ("self_exam_ok", False)
    assert (second.routed_as, second.needs_review) == ("inbox", True)


def test_carrier_keywords_come_before_registered_handlers(client, patient, handlers):
    handlers.append(lambda message: "grabbed")
    params = inbound_sms_params(PHONE, "STOP")

    post_signed(client, SMS_PATH, params)

    assert inbound_message(params["MessageSid"]).routed_as == "opt_out"


def test_a_handler_never_sees_a_message_from_an_unknown_number(client, handlers):
    calls = []
    handlers.append(lambda message: calls.append(message) or "grabbed")

    send_sms(client, "2", from_=UNKNOWN_PHONE)

    assert calls == []


def test_a_routing_crash_keeps_the_message_and_it_is_routed_later(client, patient, handlers):
    broken = {"yes": True}

    def flaky(message):
        if broken["yes"]:
            raise RuntimeError("the lesion questionnaire is down")
        return "lesion_answer"

    handlers.append(flaky)
    params = inbound_sms_params(PHONE, "2")

    response = post_signed(client, SMS_PATH, params)

    assert response.status_code == 200
    assert b"<Response>" in response.content
    message = inbound_message(params["MessageSid"])
    assert (message.body, message.subject, message.routed_at) == ("2", patient, None)
    # Twilio retrying the webhook does not lose or duplicate it either.
    assert post_signed(client, SMS_PATH, params).status_code == 200
    assert Message.objects.filter(direction="inbound").count() == 1

    assert inbound.route_unrouted() == 1  # still broken: stays unrouted
    assert inbound_message(params["MessageSid"]).routed_at is None

    broken["yes"] = False
    assert inbound.route_unrouted() == 1
    message.refresh_from_db()
    assert message.routed_as == "lesion_answer"
    assert message.routed_at is not None
    assert inbound.route_unrouted() == 0


def test_a_crash_after_a_handler_wrote_rolls_its_writes_back(client, patient, handlers):
    def half_done(message):
        messaging.queue(messaging.patient_of(message), "check_in", f"half:{message.pk}")
        raise RuntimeError("crashed half-way")

    handlers.append(half_done)
    params = inbound_sms_params(PHONE, "2")

    post_signed(client, SMS_PATH, params)

    assert not Message.objects.filter(direction="outbound").exists()
    assert inbound_message(params["MessageSid"]).routed_at is None


# --- delivery status callbacks ----------------------------------------------------


def test_statuses_move_forward_only(client, patient):
    message = sent_message(patient)

    for status in ("sent", "delivered", "sent"):
        assert post_status(client, message.provider_sid, status).status_code == 204

    message.refresh_from_db()
    assert message.status == "delivered"
    assert message.delivered_at is not None


def test_a_replayed_delivered_callback_changes_nothing(client, patient):
    message = sent_message(patient)
    post_status(client, message.provider_sid, "delivered")
    first = Message.objects.get(pk=message.pk)

    with time_machine.travel("2026-06-01 15:00Z"):
        assert post_status(client, message.provider_sid, "delivered").status_code == 204

    again = Message.objects.get(pk=message.pk)
    assert (again.delivered_at, again.modified_on) == (first.delivered_at, first.modified_on)


def test_delivered_after_failed_does_not_resurrect_the_message(client, patient):
    message = sent_message(patient)

    post_status(client, message.provider_sid, "failed", error_code=30003)
    post_status(client, message.provider_sid, "delivered")

    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "30003")


def test_undelivered_makes_the_message_undeliverable(client, patient):
    message = sent_message(patient)

    post_status(client, message.provider_sid, "undelivered", error_code=30003)

    message.refresh_from_db()
    assert (message.status, message.error_code) == ("undeliverable", "30003")
    patient.refresh_from_db()
    assert (patient.contact.invalid_at, patient.contact.opted_out_at) == (None, None)


def test_failed_with_30006_marks_the_number_invalid(client, patient):
    message = sent_message(patient)

    post_status(client, message.provider_sid, "failed", error_code=30006)

    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "30006")
    patient.refresh_from_db()
    assert patient.contact.invalid_at is not None
    assert "30006" in patient.contact.invalid_reason
    later = messaging.queue(patient, "self_exam", "later")
    dispatch.send(later.pk)
    later.refresh_from_db()
    assert later.status == "undeliverable"


def test_a_replayed_failed_callback_changes_nothing(client, patient):
    message = sent_message(patient)
    post_status(client, message.provider_sid, "failed", error_code=30006)
    first_patient = patient_state(patient)
    first = Message.objects.get(pk=message.pk)

    with time_machine.travel("2026-06-01 15:00Z"):
        post_status(client, message.provider_sid, "failed", error_code=30006)

    assert patient_state(patient) == first_patient
    assert Message.objects.get(pk=message.pk).modified_on == first.modified_on


def test_error_21610_opts_the_patient_out(client, patient, sms_outbox):
    message = sent_message(patient)

    post_status(client, message.provider_sid, "undelivered", error_code=21610)

    patient.refresh_from_db()
    assert patient.contact.opted_out_at is not None
    later = messaging.queue(patient, "self_exam", "later")
    dispatch.send(later.pk)
    later.refresh_from_db()
    assert later.status == "undeliverable"
    assert len(sms_outbox) == 1


def test_an_unknown_message_sid_changes_nothing(client, patient):
    message = sent_message(patient)
    before, count = patient_state(patient), Message.objects.count()

    response = post_status(client, new_sid("SM"), "failed", error_code=21610)

    assert response.status_code == 204
    assert Message.objects.count() == count
    assert Message.objects.get(pk=message.pk).status == "sent"
    assert patient_state(patient) == before


@pytest.mark.parametrize("status", ["queued", "sending", "accepted", "scheduled", "canceled"])
def test_intermediate_statuses_are_ignored(client, patient, status):
    message = sent_message(patient)

    assert post_status(client, message.provider_sid, status).status_code == 204

    again = Message.objects.get(pk=message.pk)
    assert (again.status, again.modified_on) == ("sent", message.modified_on)


def test_a_status_callback_for_an_inbound_sid_is_not_a_server_error(client, patient):
    params = inbound_sms_params(PHONE, "hello")
    post_signed(client, SMS_PATH, params)
    client.raise_request_exception = False

    response = post_status(client, params["MessageSid"], "delivered")

    assert response.status_code < 500
    assert inbound_message(params["MessageSid"]).status == "received"


def test_a_callback_for_a_message_still_sending_is_recorded_by_sid_only(client, patient):
    message = messaging.queue(patient, "self_exam", "in-flight")
    claim.claim(message.pk, timezone.now())

    response = post_status(client, new_sid("SM"), "delivered")

    assert response.status_code == 204
    assert Message.objects.get(pk=message.pk).status == "sending"


def test_a_nul_byte_in_a_signed_sms_does_not_lose_the_message(client, patient):
    params = inbound_sms_params(PHONE, "new spot\x00 near the scar")

    response = post_signed(client, SMS_PATH, params)

    assert response.status_code == 200
    message = inbound_message(params["MessageSid"])
    assert message.body == "new spot\ufffd near the scar"
    assert (message.subject, message.needs_review) == (patient, True)


def test_an_sms_from_a_channel_address_is_kept_for_review(client, patient):
    params = inbound_sms_params("whatsapp:" + PHONE, "2")

    response = post_signed(client, SMS_PATH, params)

    assert response.status_code == 200
    message = inbound_message(params["MessageSid"])
    assert (message.from_number, message.body) == ("whatsapp:" + PHONE, "2")
    assert (message.routed_as, message.needs_review) == ("inbox", True)


@pytest.mark.parametrize(
    "change",
    [{"MessageSid": "SM" + "a" * 80}, {"From": "+1" + "2" * 70}, {"To": "+1" + "2" * 70}],
    ids=["long sid", "long from", "long to"],
)
def test_a_signed_sms_that_cannot_be_a_twilio_message_gets_400(client, patient, change):
    params = {**inbound_sms_params(PHONE, "STOP"), **change}
    client.raise_request_exception = False

    response = post_signed(client, SMS_PATH, params)

    assert response.status_code == 400
    assert Message.objects.count() == 0
    assert Patient.objects.get(pk=patient.pk).contact.opted_out_at is None


def test_a_status_callback_with_an_overlong_sid_is_a_400_that_changes_nothing(client, patient):
    client.raise_request_exception = False

    response = post_status(client, "SM" + "a" * 63, "delivered")

    assert response.status_code == 400
    assert not EarlyStatus.objects.exists()


@pytest.mark.parametrize("query", ["?message=abc", "?message=99999999999999999999999", "?message="])
def test_a_status_callback_with_a_nonsense_message_id_is_recorded_by_sid(client, patient, query):
    response = post_signed(
        client, STATUS_PATH + query, status_params(new_sid("SM"), "sent", to=PHONE)
    )

    assert response.status_code == 204
    assert EarlyStatus.objects.count() == 1
