"""A fake Twilio REST API (Messages only) on a real loopback HTTP server.

The real `twilio` SDK talks to it over HTTP when settings.TWILIO_API_BASE_URL
is ``fake.url`` (see `notifications.twilio_client.build_client`), so tests
exercise the SDK's own request building, response parsing and exceptions.

    with FakeTwilio() as fake:
        fake.apply_settings(settings)           # pytest-django `settings` fixture
        fake.fail_next("timeout_after_accept")
        ...
        assert fake.count_to("+12015550123") == 1

or use the `fake_twilio` fixture below (import it into a conftest or test module).

What it implements, as the SDK calls it:
- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form: To, From or
  MessagingServiceSid, Body, StatusCallback) -> 201 with a Twilio-shaped message.
- ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` -> 200 or 404 (20404).
- ``GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` with To, From,
  ``DateSent``, ``DateSent>``, ``DateSent<`` (the SDK's ``date_sent``,
  ``date_sent_after``, ``date_sent_before``; it sends them as
  ``%Y-%m-%dT%H:%M:%SZ``, truncated to the second and *not* converted to UTC, so
  pass aware UTC datetimes), PageSize, Page, PageToken; newest first, paged
  with ``next_page_uri`` like Twilio.
- HTTP Basic auth (account SID + auth token), else 401 (code 20003).

Differences from the real service worth knowing:
- ``date_sent`` is set when the message is accepted (real Twilio leaves it null
  until the carrier hand-off, usually within seconds); the status stays
  ``queued`` (``accepted`` with a Messaging Service) until a status callback
  moves it.
- Date filters compare at full precision and inclusively (``DateSent>`` is
  ">=", ``DateSent<`` is "<="); Twilio documents them at day granularity
  (YYYY-MM-DD), so production reconciliation should also filter client-side.
- No API keys, media, scheduling, redaction or cancel.

Never point this at anything but loopback; use fictional 555-01xx numbers.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import re
import secrets
import sys
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
FAKE_ACCOUNT_SID = "AC" + "0" * 32
FAKE_AUTH_TOKEN = "fake-auth-token-for-tests-only-00"
FAKE_FROM_NUMBER = "+12015550100"
FAKE_MESSAGING_SERVICE_SID = "MG" + "0" * 32
# Waits for something to happen (an answer, a POST, a thread to end) return as soon as it
# has; on a busy machine that can take far longer than a few seconds, which is no failure.
BUSY_MACHINE_WAIT = 60

#: Fault kinds accepted by `FakeTwilio.fail_next` / `FakeTwilio.fault_rate`, and
#: what each one means at the real provider.
FAULTS: dict[str, str] = {
    "rate_limit": (
        "429, code 20429 (Too Many Requests). Twilio refused the request before "
        "accepting it: nothing was sent; safe to retry later, with backoff."
    ),
    "server_error": (
        "500, code 20500, the message NOT recorded. At the real provider a 5xx is "
        "ambiguous: the message may or may not have been accepted, so look it up "
        "(list by recipient and time) before sending again."
    ),
    "crash_after_accept": (
        "500, code 20500, but the message IS recorded: the failure a retry would turn "
        "into a duplicate SMS. Indistinguishable from `server_error` for the client."
    ),
    "timeout": (
        "The server holds the request longer than `timeout_delay` (longer than the "
        "client timeout), then closes without answering; NOT recorded. The client "
        "sees a read timeout: ambiguous, Twilio may have sent it."
    ),
    "timeout_after_accept": (
        "Records the message, then holds the request past the client timeout (late "
        "201). The client sees a read timeout although the SMS went out."
    ),
    "disconnect": (
        "Reads the request and closes the connection without a response; NOT "
        "recorded. Client: connection aborted (RemoteDisconnected); ambiguous too."
    ),
    "unsubscribed": (
        "400, code 21610: the recipient replied STOP; Twilio will refuse every "
        "message to this number until they reply START. Permanent, never retry."
    ),
    "invalid_number": "400, code 21211: 'To' is not a valid phone number. Permanent.",
    "not_mobile": (
        "400, code 21614: 'To' is not a mobile number (landline), cannot take SMS. Permanent."
    ),
}

# kind -> (HTTP status, Twilio code, message) for the faults that answer at once.
_ERROR_FAULTS = {
    "rate_limit": (429, 20429, "Too Many Requests"),
    "server_error": (500, 20500, "An internal server error has occurred"),
    "crash_after_accept": (500, 20500, "An internal server error has occurred"),
    "unsubscribed": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "invalid_number": (400, 21211, "Invalid 'To' Phone Number"),
    "not_mobile": (400, 21614, "'To' number is not a valid mobile number"),
}
_OPS = ("create", "fetch", "list")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_BASE = f"/{API_VERSION}/Accounts/(?P<account>AC[0-9a-fA-F]{{32}})"
_LIST_PATH = re.compile(_BASE + r"/Messages\.json$")
_INSTANCE_PATH = re.compile(_BASE + r"/Messages/(?P<sid>[A-Z]{2}[0-9a-fA-F]{32})\.json$")


def new_sid(prefix: str = "SM") -> str:
    """A Twilio-style SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def twilio_error(status: int, code: int, message: str) -> dict:
    """Twilio's (legacy, non RFC 9457) error body, which the SDK turns into
    `TwilioRestException(status=..., code=...)`."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


# --- pure helpers for webhooks (usable with Django's test client) -----------


def twilio_signature(url: str, params: Mapping, auth_token: str = FAKE_AUTH_TOKEN) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a form POST of `params` to `url`.

    `url` is the public URL Twilio requested (settings.PUBLIC_BASE_URL + path,
    with any query string), not the test server's address.
    """
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def status_params(
    message_sid: str,
    status: str,
    *,
    to: str,
    from_: str | None = FAKE_FROM_NUMBER,
    account_sid: str = FAKE_ACCOUNT_SID,
    error_code: int | str | None = None,
    messaging_service_sid: str | None = None,
) -> dict[str, str]:
    """The form fields of a Twilio SMS status callback."""
    params = {
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": to,
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
    }
    if from_:
        params["From"] = from_
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


def inbound_sms_params(
    from_: str,
    body: str,
    to: str = FAKE_FROM_NUMBER,
    *,
    account_sid: str = FAKE_ACCOUNT_SID,
    message_sid: str | None = None,
    messaging_service_sid: str | None = None,
) -> dict[str, str]:
    """The form fields of Twilio's incoming-SMS webhook (a fresh "SM..." sid by default)."""
    sid = message_sid or new_sid("SM")
    params = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "FromCountry": "US",
        "ToCountry": "US",
        "ApiVersion": API_VERSION,
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    return params


def signed_post_kwargs(url: str, params: Mapping, auth_token: str = FAKE_AUTH_TOKEN) -> dict:
    """Keyword arguments for Django's test client, form-encoded and signed like Twilio:

    client.post(path, **signed_post_kwargs(public_url(path), params, token))
    """
    return {
        "data": urlencode(dict(params)),
        "content_type": "application/x-www-form-urlencoded",
        "HTTP_X_TWILIO_SIGNATURE": twilio_signature(url, params, auth_token),
    }


def public_url(path: str) -> str:
    """settings.PUBLIC_BASE_URL + path: the URL Twilio signs."""
    from django.conf import settings

    return settings.PUBLIC_BASE_URL.rstrip("/") + path


# --- the fake ----------------------------------------------------------------


@dataclasses.dataclass
class FakeMessage:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status: str
    status_callback: str | None
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None
    error_code: int | None = None
    error_message: str | None = None
    seq: int = 0

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def to_json(self) -> dict:
        def rfc2822(value):
            return format_datetime(value.replace(microsecond=0)) if value else None

        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": self.uri.replace(".json", "/Media.json")},
            "to": self.to,
            "uri": self.uri,
        }


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request the fake answered (or dropped: status None)."""

    method: str
    path: str
    query: dict
    form: dict
    status: int | None
    fault: str | None


@dataclasses.dataclass(frozen=True)
class CallbackDelivery:
    """One webhook POST the fake made (status callbacks, inbound SMS)."""

    signed_url: str
    posted_to: str
    params: dict
    status_code: int | None
    error: str | None


class _Dropped(Exception):
    """Close the connection without a response."""


class FakeTwilio:
    """The fake API. Thread-safe; start/stop it, or use it as a context manager.

    Arguments:
    - `account_sid`, `auth_token`: the only credentials accepted.
    - `timeout_delay`: how long the `timeout` faults hold a request (seconds);
      make it longer than the client's TWILIO_TIMEOUT_SECONDS.
    - `auto_status`: None (default: no callbacks by themselves), a status
      (``"delivered"``) or a sequence (``["sent", "delivered"]``) posted to each
      accepted message's StatusCallback, `auto_status_delay` seconds apart, from
      a background thread. They may arrive before the sender has stored the sid,
      as with real Twilio.
    - `callback_origin`: where webhooks are really POSTed, e.g. a live server's
      ``http://127.0.0.1:PORT``; the scheme and host of the signed (public) URL
      are replaced by it, the signature stays over the public URL.
    """

    def __init__(
        self,
        account_sid: str = FAKE_ACCOUNT_SID,
        auth_token: str = FAKE_AUTH_TOKEN,
        *,
        timeout_delay: float = 12.0,
        auto_status: str | Iterable[str] | None = None,
        auto_status_delay: float = 0.05,
        callback_origin: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.timeout_delay = timeout_delay
        self.auto_status = auto_status
        self.auto_status_delay = auto_status_delay
        self.callback_origin = callback_origin
        self.host = host
        self.port = port
        self.clock = lambda: datetime.now(UTC)  # replace to control date_created/date_sent
        self._lock = threading.RLock()
        self._messages: dict[str, FakeMessage] = {}
        self._seq = 0
        self._requests: list[RecordedRequest] = []
        self._callbacks: list[CallbackDelivery] = []
        self._queued_faults = {op: deque() for op in _OPS}
        self._fault_rates = {op: (0.0, (), random.Random(0)) for op in _OPS}
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> FakeTwilio:
        """Listen (on `port`, an ephemeral one the first time). Again after `stop()`:
        the same port, so a test can model an outage and the recovery."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused. Wakes held (`timeout`) requests."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=BUSY_MACHINE_WAIT)
            self._thread = None

    def restart(self) -> FakeTwilio:
        self.stop()
        return self.start()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to put in TWILIO_API_BASE_URL."""
        return f"http://{self.host}:{self.port}"

    def apply_settings(self, settings, **extra) -> None:
        """Point Django settings (e.g. pytest-django's `settings` fixture) at the fake:
        TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_API_BASE_URL, plus `extra`."""
        settings.TWILIO_ACCOUNT_SID = self.account_sid
        settings.TWILIO_AUTH_TOKEN = self.auth_token
        settings.TWILIO_API_BASE_URL = self.url
        for name, value in extra.items():
            setattr(settings, name, value)

    # what was sent

    @property
    def messages(self) -> list[FakeMessage]:
        """Copies of every accepted message, oldest first."""
        with self._lock:
            ordered = sorted(self._messages.values(), key=lambda m: m.seq)
            return [dataclasses.replace(m) for m in ordered]

    sent = messages

    def get(self, sid: str) -> FakeMessage:
        with self._lock:
            return dataclasses.replace(self._messages[sid])

    def count_to(self, number: str) -> int:
        with self._lock:
            return sum(1 for m in self._messages.values() if m.to == number)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def create_attempts(self) -> int:
        """POSTs to Messages.json that got past authentication, whatever the outcome."""
        with self._lock:
            return sum(1 for r in self._requests if r.method == "POST" and r.status != 401)

    @property
    def callbacks(self) -> list[CallbackDelivery]:
        with self._lock:
            return list(self._callbacks)

    def clear(self) -> None:
        """Forget messages, requests, callbacks and faults."""
        with self._lock:
            self._messages.clear()
            self._requests.clear()
            self._callbacks.clear()
        self.clear_faults()

    # fault injection

    def fail_next(self, kind: str, times: int = 1, *, op: str = "create") -> None:
        """The next `times` calls of `op` ("create", "fetch" or "list") fail with `kind`
        (see `FAULTS`). Queued faults come before `fault_rate` ones. On fetch/list the
        "after accept" kinds behave like their plain forms."""
        _check_fault(kind, op)
        with self._lock:
            self._queued_faults[op].extend([kind] * times)

    def fault_rate(
        self,
        rate: float,
        kinds: Iterable[str] = ("rate_limit", "server_error"),
        seed: int = 1,
        *,
        op: str = "create",
    ) -> None:
        """Each `op` call fails with probability `rate`, with a kind drawn from `kinds`,
        from a RNG seeded with `seed` (reproducible for a given order of calls).
        ``fault_rate(0)`` turns it off."""
        kinds = tuple(kinds)
        for kind in kinds:
            _check_fault(kind, op)
        if rate and not kinds:
            raise ValueError("fault_rate needs at least one kind")
        with self._lock:
            self._fault_rates[op] = (float(rate), kinds, random.Random(seed))

    def clear_faults(self) -> None:
        with self._lock:
            for op in _OPS:
                self._queued_faults[op].clear()
                self._fault_rates[op] = (0.0, (), random.Random(0))

    def _take_fault(self, op: str) -> str | None:
        with self._lock:
            if self._queued_faults[op]:
                return self._queued_faults[op].popleft()
            rate, kinds, rng = self._fault_rates[op]
            if rate and rng.random() < rate:
                return rng.choice(kinds)
            return None

    # webhooks

    def send_status_callback(
        self,
        message_sid: str,
        status: str,
        error_code: int | str | None = None,
        url: str | None = None,
        *,
        post_to: str | None = None,
        timeout: float = BUSY_MACHINE_WAIT,
    ) -> requests.Response:
        """Move the message to `status` and POST a signed status callback, like Twilio.

        Signed over `url` or else the message's StatusCallback (the public URL);
        posted to `post_to`, or that URL with `callback_origin` applied.
        Raises KeyError for a sid the fake never accepted, ValueError without a URL.
        """
        with self._lock:
            message = self._messages[message_sid]
            target = url or message.status_callback
            if not target:
                raise ValueError(f"{message_sid} has no StatusCallback and no url was given")
            now = self.clock()
            message.status = status
            message.date_updated = now
            if error_code is not None:
                message.error_code = int(error_code)
            if status in ("sent", "delivered") and message.date_sent is None:
                message.date_sent = now
            params = status_params(
                message.sid,
                status,
                to=message.to,
                from_=message.from_,
                account_sid=message.account_sid,
                error_code=error_code,
                messaging_service_sid=message.messaging_service_sid,
            )
        return self._post_webhook(target, params, post_to=post_to, timeout=timeout)

    def signed_inbound_sms(
        self,
        url: str,
        from_: str,
        body: str,
        to: str = FAKE_FROM_NUMBER,
        *,
        post_to: str | None = None,
        timeout: float = BUSY_MACHINE_WAIT,
        **extra: str,
    ) -> requests.Response:
        """POST a signed incoming-SMS webhook (see `inbound_sms_params`) to `url`
        (the public URL; actually sent to `post_to` or via `callback_origin`)."""
        params = inbound_sms_params(from_, body, to, account_sid=self.account_sid)
        params.update(extra)
        return self._post_webhook(url, params, post_to=post_to, timeout=timeout)

    def _delivery_url(self, url: str) -> str:
        if not self.callback_origin:
            return url
        origin = urlsplit(self.callback_origin)
        parts = urlsplit(url)
        return urlunsplit((origin.scheme, origin.netloc, parts.path, parts.query, ""))

    def _post_webhook(
        self, url, params, *, post_to=None, timeout=BUSY_MACHINE_WAIT
    ) -> requests.Response:
        target = post_to or self._delivery_url(url)
        headers = {
            "X-Twilio-Signature": twilio_signature(url, params, self.auth_token),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
        }
        try:
            response = requests.post(target, data=params, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            self._log_callback(CallbackDelivery(url, target, params, None, repr(exc)))
            raise
        self._log_callback(CallbackDelivery(url, target, params, response.status_code, None))
        return response

    def _log_callback(self, delivery: CallbackDelivery) -> None:
        with self._lock:
            self._callbacks.append(delivery)

    def _schedule_auto_status(self, sid: str) -> None:
        statuses = self.auto_status
        if not statuses:
            return
        statuses = [statuses] if isinstance(statuses, str) else list(statuses)

        def run():
            for status in statuses:
                if self._stopping.wait(self.auto_status_delay):
                    return
                try:
                    self.send_status_callback(sid, status)
                except (requests.RequestException, KeyError, ValueError):
                    pass  # logged in `callbacks` (or the message was cleared)

        threading.Thread(target=run, daemon=True, name=f"fake-twilio-status-{sid}").start()

    # request handling (called from the server's threads)

    def _hold(self) -> None:
        self._stopping.wait(self.timeout_delay)

    def _record_request(self, method, path, query, form, status, fault) -> None:
        with self._lock:
            self._requests.append(RecordedRequest(method, path, query, form, status, fault))

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    def _create(self, account: str, form: dict) -> tuple[int, dict, FakeMessage | None]:
        to = form.get("To", "")
        from_ = form.get("From") or None
        service = form.get("MessagingServiceSid") or None
        body = form.get("Body", "")
        if not to:
            return 400, twilio_error(400, 21604, "A 'To' phone number is required."), None
        if not _E164.match(to):
            return 400, twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}"), None
        if not from_ and not service:
            return 400, twilio_error(400, 21603, "A 'From' phone number is required."), None
        if not body:
            return 400, twilio_error(400, 21602, "Message body is required."), None
        now = self.clock()
        with self._lock:
            self._seq += 1
            message = FakeMessage(
                sid=new_sid("SM"),
                account_sid=account,
                to=to,
                from_=from_,
                messaging_service_sid=service,
                body=body,
                status="queued" if from_ else "accepted",
                status_callback=form.get("StatusCallback") or None,
                date_created=now,
                date_updated=now,
                date_sent=now,
                seq=self._seq,
            )
            self._messages[message.sid] = message
            payload = message.to_json()
        if message.status_callback:
            self._schedule_auto_status(message.sid)
        return 201, payload, message

    def _list(self, account: str, path: str, query: dict) -> tuple[int, dict]:
        try:
            filters = _date_filters(query)
        except ValueError as exc:
            return 400, twilio_error(400, 20001, str(exc))
        try:
            size = min(max(int(query.get("PageSize", 50)), 1), 1000)
            page = max(int(query.get("Page", 0)), 0)
        except ValueError:
            return 400, twilio_error(400, 20001, "Invalid paging parameter")
        with self._lock:
            found = [
                m
                for m in self._messages.values()
                if m.account_sid == account
                and ("To" not in query or m.to == query["To"])
                and ("From" not in query or m.from_ == query["From"])
                and all(test(m.date_sent) for test in filters)
            ]
            found.sort(key=lambda m: (m.date_sent or m.date_created, m.seq), reverse=True)
            start = page * size
            token = query.get("PageToken", "")
            if token.startswith("PA"):
                sids = [m.sid for m in found]
                if token[2:] in sids:
                    start = sids.index(token[2:]) + 1
            chosen = found[start : start + size]
            records = [m.to_json() for m in chosen]
            more = start + size < len(found)
        keep = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(number, page_token=None):
            params = dict(keep, PageSize=size, Page=number)
            if page_token:
                params["PageToken"] = page_token
            return f"{path}?{urlencode(params)}"

        return 200, {
            "end": start + len(records) - 1 if records else start,
            "first_page_uri": page_uri(0),
            "messages": records,
            "next_page_uri": page_uri(page + 1, "PA" + chosen[-1].sid) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": start,
            "uri": page_uri(page, token or None),
        }

    def _handle(self, method: str, raw_path: str, headers, form: dict) -> tuple[int, dict]:
        """Route one request; returns (status, JSON) or raises `_Dropped`."""
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if not self._authorized(headers.get("Authorization")):
            self._record_request(method, path, query, form, 401, None)
            return 401, twilio_error(401, 20003, "Authenticate")
        list_match = _LIST_PATH.match(path)
        instance_match = _INSTANCE_PATH.match(path)
        match = list_match or instance_match
        if match is None or match["account"] != self.account_sid:
            self._record_request(method, path, query, form, 404, None)
            return 404, twilio_error(404, 20404, f"The requested resource {path} was not found")
        if list_match and method == "POST":
            op = "create"
        elif method == "GET":
            op = "list" if list_match else "fetch"
        else:
            self._record_request(method, path, query, form, 405, None)
            return 405, twilio_error(405, 20004, "Method not allowed")

        fault = self._take_fault(op)
        status, payload, hold = self._answer(op, fault, match, path, query, form)
        self._record_request(method, path, query, form, status, fault)
        if hold:
            self._hold()  # past the client's timeout (or until stop())
        if status is None:
            raise _Dropped
        return status, payload

    def _answer(self, op, fault, match, path, query, form):
        """(status or None to drop the connection, JSON, hold before answering?)."""
        accepts = op == "create" and fault in ("crash_after_accept", "timeout_after_accept")
        if fault == "disconnect":
            return None, None, False
        if fault in ("timeout", "timeout_after_accept") and not accepts:
            return None, None, True
        if fault in _ERROR_FAULTS and not accepts:
            http_status, code, message = _ERROR_FAULTS[fault]
            return http_status, twilio_error(http_status, code, message), False
        if op == "create":
            status, payload, _ = self._create(match["account"], form)
            if fault == "crash_after_accept" and status == 201:
                error = twilio_error(500, 20500, "An internal server error has occurred")
                return 500, error, False
            # timeout_after_accept: the 201 comes once the client has given up
            return status, payload, fault == "timeout_after_accept" and status == 201
        if op == "list":
            return (*self._list(match["account"], path, query), False)
        with self._lock:
            message = self._messages.get(match["sid"])
            if message is not None and message.account_sid == match["account"]:
                return 200, message.to_json(), False
        not_found = twilio_error(404, 20404, f"The requested resource {path} was not found")
        return 404, not_found, False


def _check_fault(kind: str, op: str) -> None:
    if kind not in FAULTS:
        raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULTS)}")
    if op not in _OPS:
        raise ValueError(f"unknown op {op!r}; one of {_OPS}")


def _parse_date(value: str) -> tuple[datetime, bool]:
    """(UTC datetime, date-only?) from the SDK's ``%Y-%m-%dT%H:%M:%SZ`` or ``YYYY-MM-DD``."""
    for fmt, date_only in (("%Y-%m-%dT%H:%M:%SZ", False), ("%Y-%m-%d", True)):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC), date_only
        except ValueError:
            continue
    raise ValueError(f"Invalid DateSent: {value!r}")


def _date_filters(query: dict) -> list:
    """Predicates on date_sent for DateSent (same second/day), DateSent> (>=), DateSent< (<=)."""
    tests = []
    for key, value in query.items():
        if key not in ("DateSent", "DateSent>", "DateSent<"):
            continue
        start, date_only = _parse_date(value)
        end = start + (timedelta(days=1) if date_only else timedelta(seconds=1))
        if key == "DateSent":
            tests.append(lambda d, s=start, e=end: d is not None and s <= d < e)
        elif key == "DateSent>":
            tests.append(lambda d, s=start: d is not None and d >= s)
        else:
            tests.append(lambda d, e=end: d is not None and d < e)
    return tests


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # socketserver's 5 drops SYNs under concurrent sends

    def handle_error(self, request, client_address):
        """A client that went away (a killed worker's kept-alive connection) is not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeTwilio/1.0"
    protocol_version = "HTTP/1.1"  # keep-alive, as Twilio's API: one connection per client
    # Headers and body leave in two writes: with Nagle's algorithm the body would wait for
    # the client's delayed ACK (40 ms a request on Linux), which Twilio's API never costs.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        try:
            status, payload = self.server.fake._handle(method, self.path, self.headers, form)
        except _Dropped:
            self.close_connection = True
            return
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout faults)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")


@pytest.fixture
def fake_twilio():
    """A running `FakeTwilio`, stopped after the test. Not applied to settings:
    call ``fake_twilio.apply_settings(settings)``."""
    with FakeTwilio() as fake:
        yield fake


class WebhookRecorder:
    """A tiny loopback server that records POSTs: a stand-in for the app's webhook
    endpoints when testing what the fake sends. ``posts`` holds (path, headers, form)."""

    def __init__(self, status: int = 204):
        recorder = self
        self.status = status
        self.posts: list[tuple[str, dict, dict]] = []
        self.received = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                with recorder.received:
                    recorder.posts.append((self.path, dict(self.headers), form))
                    recorder.received.notify_all()
                self.send_response(recorder.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def wait_for(
        self, count: int, timeout: float = BUSY_MACHINE_WAIT
    ) -> list[tuple[str, dict, dict]]:
        """Block until `count` POSTs arrived (or time out); returns them as soon as they have."""
        with self.received:
            self.received.wait_for(lambda: len(self.posts) >= count, timeout)
            return list(self.posts)

    def __enter__(self) -> WebhookRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
