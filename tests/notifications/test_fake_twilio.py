"""The fake Twilio API, driven by the real `twilio` SDK through `build_client()`.

No database: these tests only need loopback sockets. They pin down which
exception the SDK raises for each provider failure, which the SMS backend's
retry/ambiguity classification relies on.
"""

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.http import QueryDict
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from notifications.twilio_client import RebasedHttpClient, build_client
from tests.fake_twilio import (
    FAKE_ACCOUNT_SID,
    FAKE_AUTH_TOKEN,
    FAKE_FROM_NUMBER,
    FAKE_MESSAGING_SERVICE_SID,
    FakeTwilio,
    WebhookRecorder,
    inbound_sms_params,
    signed_post_kwargs,
    status_params,
    twilio_signature,
)

PATIENT = "+12015550123"
OTHER = "+12015550124"
PUBLIC_STATUS_URL = "http://127.0.0.1:8000/webhooks/twilio/status/"
PUBLIC_SMS_URL = "http://127.0.0.1:8000/webhooks/twilio/sms/"


@pytest.fixture
def fake(settings):
    with FakeTwilio(timeout_delay=2.0) as fake:
        fake.apply_settings(settings, TWILIO_TIMEOUT_SECONDS=2)
        yield fake


@pytest.fixture
def client(fake):
    return build_client()


def send(client, to=PATIENT, body="Time for your monthly skin self-check.", **kwargs):
    kwargs.setdefault("from_", FAKE_FROM_NUMBER)
    return client.messages.create(to=to, body=body, **kwargs)


# --- build_client ---------------------------------------------------------------


def test_build_client_without_base_url_talks_to_twilio(settings):
    settings.TWILIO_ACCOUNT_SID = FAKE_ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = FAKE_AUTH_TOKEN
    settings.TWILIO_API_BASE_URL = ""
    client = build_client()  # builds only: no request is made
    assert type(client.http_client) is TwilioHttpClient
    assert client.http_client.timeout == 10
    assert client.auth == (FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN)


def test_build_client_rebases_only_the_api_domain(fake, settings):
    settings.TWILIO_TIMEOUT_SECONDS = 3
    http = build_client().http_client
    assert isinstance(http, RebasedHttpClient)
    assert http.timeout == 3
    path = f"/2010-04-01/Accounts/{FAKE_ACCOUNT_SID}/Messages.json?To=%2B1&PageSize=2"
    assert http.rebase("https://api.twilio.com" + path) == fake.url + path
    assert http.rebase("https://api.dublin.ie1.twilio.com" + path) == fake.url + path
    other = "https://messaging.twilio.com/v1/Services"
    assert http.rebase(other) == other


# --- the happy paths ------------------------------------------------------------


def test_create_then_fetch(client, fake):
    created = send(client, status_callback=PUBLIC_STATUS_URL)

    assert created.sid.startswith("SM") and len(created.sid) == 34
    assert created.status == "queued"
    assert (created.to, created.from_) == (PATIENT, FAKE_FROM_NUMBER)
    assert created.body == "Time for your monthly skin self-check."
    assert created.account_sid == FAKE_ACCOUNT_SID
    assert created.error_code is None
    assert isinstance(created.date_created, datetime)

    fetched = client.messages(created.sid).fetch()
    assert (fetched.sid, fetched.to, fetched.body) == (created.sid, PATIENT, created.body)
    assert fake.count_to(PATIENT) == 1
    assert fake.messages[0].status_callback == PUBLIC_STATUS_URL
    assert fake.sent[0].sid == created.sid


def test_create_with_messaging_service(client, fake):
    created = client.messages.create(
        to=PATIENT, body="Hi", messaging_service_sid=FAKE_MESSAGING_SERVICE_SID
    )
    assert created.status == "accepted"  # as Twilio answers for a Messaging Service
    assert created.messaging_service_sid == FAKE_MESSAGING_SERVICE_SID
    assert created.from_ is None


def test_fetch_unknown_message_is_404(client):
    with pytest.raises(TwilioRestException) as caught:
        client.messages("SM" + "f" * 32).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_list_by_recipient_since(client, fake):
    t0 = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    fake.clock = lambda: t0 - timedelta(hours=1)
    old = send(client, body="old")
    fake.clock = lambda: t0
    new = send(client, body="new")
    send(client, to=OTHER, body="someone else")

    found = client.messages.list(to=PATIENT, date_sent_after=t0)
    assert [m.sid for m in found] == [new.sid]
    assert [m.sid for m in client.messages.list(to=PATIENT)] == [new.sid, old.sid]
    before = client.messages.list(date_sent_before=t0 - timedelta(minutes=30))
    assert [m.sid for m in before] == [old.sid]
    # what the SDK put on the wire
    query = fake.requests[-3].query
    assert query == {"To": PATIENT, "DateSent>": "2025-03-03T15:00:00Z"}


def test_list_follows_next_page_uri(client, fake):
    sids = [send(client, body=f"n{i}").sid for i in range(5)]
    found = client.messages.list(to=PATIENT, page_size=2)
    assert [m.sid for m in found] == sids[::-1]
    pages = [r for r in fake.requests if r.method == "GET"]
    assert len(pages) == 3
    assert pages[1].query["PageToken"].startswith("PASM")
    assert client.messages.list(to=PATIENT, limit=3)[-1].sid == sids[2]


def test_concurrent_creates_are_all_recorded(client, fake):
    errors = []

    def worker(i):
        try:
            send(client, body=f"concurrent {i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert fake.count_to(PATIENT) == 20
    assert len({m.sid for m in fake.messages}) == 20


def test_bad_basic_auth_is_401(fake, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong-token"
    with pytest.raises(TwilioRestException) as caught:
        send(build_client())
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert fake.count_to(PATIENT) == 0


def test_validation_of_to(client, fake):
    with pytest.raises(TwilioRestException) as caught:
        send(client, to="0123")
    assert (caught.value.status, caught.value.code) == (400, 21211)


# --- faults ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, status, code",
    [
        ("rate_limit", 429, 20429),
        ("server_error", 500, 20500),
        ("unsubscribed", 400, 21610),
        ("invalid_number", 400, 21211),
        ("not_mobile", 400, 21614),
    ],
)
def test_error_faults_raise_twilio_rest_exception(client, fake, kind, status, code):
    fake.fail_next(kind)
    with pytest.raises(TwilioRestException) as caught:
        send(client)
    assert type(caught.value) is TwilioRestException
    assert (caught.value.status, caught.value.code, caught.value.method) == (status, code, "POST")
    assert fake.count_to(PATIENT) == 0

    send(client)  # `times=1`: the next call goes through
    assert fake.count_to(PATIENT) == 1
    assert [r.fault for r in fake.requests] == [kind, None]


def test_crash_after_accept_records_although_client_saw_500(client, fake):
    fake.fail_next("crash_after_accept")
    since = datetime.now(UTC) - timedelta(seconds=1)
    with pytest.raises(TwilioRestException) as caught:
        send(client)
    assert (caught.value.status, caught.value.code) == (500, 20500)
    assert fake.count_to(PATIENT) == 1
    # reconciliation finds it, so a retry can be skipped
    assert len(client.messages.list(to=PATIENT, date_sent_after=since)) == 1


@pytest.mark.parametrize("kind, recorded", [("timeout", 0), ("timeout_after_accept", 1)])
def test_timeout_faults_raise_read_timeout(client, fake, settings, kind, recorded):
    settings.TWILIO_TIMEOUT_SECONDS = 0.3
    client = build_client()
    fake.fail_next(kind)
    with pytest.raises(requests.exceptions.ReadTimeout) as caught:
        send(client)
    # the SDK does not wrap transport errors: the requests exception escapes as is
    assert type(caught.value) is requests.exceptions.ReadTimeout
    assert not isinstance(caught.value, requests.exceptions.ConnectionError)
    assert fake.count_to(PATIENT) == recorded
    assert fake.create_attempts == 1


def test_disconnect_raises_connection_error_protocol_error(client, fake):
    fake.fail_next("disconnect")
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        send(client)
    assert type(caught.value) is requests.exceptions.ConnectionError
    assert isinstance(caught.value.args[0], ProtocolError)  # ('Connection aborted.', ...)
    assert fake.count_to(PATIENT) == 0


def test_connection_refused_after_stop(client, fake):
    fake.stop()
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        send(client)
    assert type(caught.value) is requests.exceptions.ConnectionError
    assert not isinstance(caught.value, requests.exceptions.Timeout)
    assert isinstance(caught.value.args[0], MaxRetryError)
    assert isinstance(caught.value.args[0].reason, NewConnectionError)

    fake.start()  # same port: the outage is over
    assert send(client).status == "queued"


def test_faults_on_list_raise_plain_twilio_exception(client, fake):
    """A failed page read is NOT a TwilioRestException: `Page.process_response`
    raises the base `TwilioException("Unable to fetch page", response)`, with no
    `.status` / `.code`; the SDK's Response is args[1]. Catch TwilioException."""
    fake.fail_next("rate_limit", op="list")
    with pytest.raises(TwilioException) as caught:
        client.messages.list(to=PATIENT)
    assert type(caught.value) is TwilioException
    message, response = caught.value.args
    assert (message, response.status_code) == ("Unable to fetch page", 429)
    assert json.loads(response.text)["code"] == 20429
    assert client.messages.list(to=PATIENT) == []


def test_faults_on_fetch_raise_twilio_rest_exception(client, fake):
    created = send(client)
    fake.fail_next("server_error", op="fetch")
    with pytest.raises(TwilioRestException) as caught:
        client.messages(created.sid).fetch()
    assert (caught.value.status, caught.value.code, caught.value.method) == (500, 20500, "GET")


def test_fault_rate_is_seeded_and_reproducible(settings):
    def pattern():
        with FakeTwilio() as fake:
            fake.apply_settings(settings)
            fake.fault_rate(0.4, kinds=["rate_limit", "server_error"], seed=7)
            client, outcome = build_client(), []
            for _ in range(20):
                try:
                    send(client)
                    outcome.append(None)
                except TwilioRestException as exc:
                    outcome.append(exc.status)
            assert fake.count_to(PATIENT) == outcome.count(None)
            return outcome

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(None) < 20
    assert {s for s in first if s} <= {429, 500}


def test_unknown_fault_kind_is_rejected(fake):
    with pytest.raises(ValueError):
        fake.fail_next("explode")


# --- webhooks -------------------------------------------------------------------


def test_status_callback_is_signed_and_moves_the_status(client, fake):
    created = send(client, status_callback=PUBLIC_STATUS_URL)
    with WebhookRecorder() as receiver:
        fake.callback_origin = receiver.url
        response = fake.send_status_callback(created.sid, "undelivered", error_code=30003)
        assert response.status_code == 204
        path, headers, form = receiver.wait_for(1)[0]

    assert path == "/webhooks/twilio/status/"
    validator = RequestValidator(FAKE_AUTH_TOKEN)
    assert validator.validate(PUBLIC_STATUS_URL, form, headers["X-Twilio-Signature"])
    assert not validator.validate(
        PUBLIC_STATUS_URL, {**form, "MessageStatus": "delivered"}, headers["X-Twilio-Signature"]
    )
    assert form == status_params(created.sid, "undelivered", to=PATIENT, error_code=30003)
    assert form["ErrorCode"] == "30003" and form["SmsStatus"] == "undelivered"

    fetched = client.messages(created.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)
    assert fake.callbacks[-1].status_code == 204


def test_auto_status_sends_callbacks_in_order(settings):
    with (
        WebhookRecorder() as receiver,
        FakeTwilio(
            auto_status=["sent", "delivered"], auto_status_delay=0.01, callback_origin=receiver.url
        ) as fake,
    ):
        fake.apply_settings(settings)
        created = send(build_client(), status_callback=PUBLIC_STATUS_URL)
        posts = receiver.wait_for(2)
        assert [form["MessageStatus"] for _, _, form in posts] == ["sent", "delivered"]
        assert all(form["MessageSid"] == created.sid for _, _, form in posts)
        assert "ErrorCode" not in posts[-1][2]
        assert fake.get(created.sid).status == "delivered"


def test_no_callbacks_by_default(client, fake):
    with WebhookRecorder() as receiver:
        fake.callback_origin = receiver.url
        send(client, status_callback=PUBLIC_STATUS_URL)
        assert receiver.wait_for(1, timeout=0.3) == []


def test_signed_inbound_sms(fake):
    with WebhookRecorder() as receiver:
        fake.signed_inbound_sms(PUBLIC_SMS_URL, PATIENT, "2", post_to=receiver.url + "/sms/")
        path, headers, form = receiver.wait_for(1)[0]
    assert path == "/sms/"
    assert RequestValidator(FAKE_AUTH_TOKEN).validate(
        PUBLIC_SMS_URL, form, headers["X-Twilio-Signature"]
    )
    assert (form["From"], form["To"], form["Body"], form["NumMedia"]) == (
        PATIENT,
        FAKE_FROM_NUMBER,
        "2",
        "0",
    )
    assert form["MessageSid"].startswith("SM") and form["AccountSid"] == FAKE_ACCOUNT_SID


def test_pure_helpers_for_the_django_test_client():
    params = inbound_sms_params(PATIENT, "STOP")
    kwargs = signed_post_kwargs(PUBLIC_SMS_URL, params)
    assert kwargs["content_type"] == "application/x-www-form-urlencoded"
    # what the view will see as request.POST
    posted = QueryDict(kwargs["data"])
    assert RequestValidator(FAKE_AUTH_TOKEN).validate(
        PUBLIC_SMS_URL, posted, kwargs["HTTP_X_TWILIO_SIGNATURE"]
    )
    assert kwargs["HTTP_X_TWILIO_SIGNATURE"] == twilio_signature(PUBLIC_SMS_URL, params)
    assert (
        twilio_signature(PUBLIC_SMS_URL, params, "other-token") != kwargs["HTTP_X_TWILIO_SIGNATURE"]
    )
