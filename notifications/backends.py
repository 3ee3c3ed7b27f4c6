"""SMS transports: console (development), locmem (tests) and twilio.

Every transport raises one error type, `TransportError`, that says what the
caller may do next:
- `retryable`: the provider surely did not send it (connection refused,
  429): try again later.
- `outage`: the provider is away (unreachable, timeouts, 5xx) rather than
  answering: it feeds the circuit breaker (`circuit`).
- `ambiguous`: the provider may have sent it (timeout, 5xx): look it up at
  the provider before any retry, or the recipient could get it twice.
- neither: permanent (`code` says why, e.g. 21610 unsubscribed); never retry.
"""

import logging
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import requests
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException
from urllib3.exceptions import NewConnectionError

from .models import Message

logger = logging.getLogger(__name__)

UNSUBSCRIBED = "21610"
INVALID_NUMBERS = {"21211": "invalid number", "21614": "not a mobile number"}
TOO_MANY_REQUESTS = "20429"
AUTHENTICATION_FAILED = "20003"
# The newest messages to a number that reconciliation looks through.
LOOKUP_LIMIT = 50


class TransportError(Exception):
    def __init__(
        self, message: str, *, code: str = "", retryable=False, ambiguous=False, outage=None
    ):
        super().__init__(message)
        self.code, self.retryable, self.ambiguous = code, retryable, ambiguous
        # The provider is away (unreachable, timing out, 5xx), not answering "no".
        self.outage = ambiguous if outage is None else outage


@dataclass
class Sent:
    to: str
    body: str
    sid: str
    at: datetime


class ConsoleBackend:
    """Prints each SMS: for the embedded demo. Only the last digits of the number."""

    def send(self, message: Message) -> str:
        sid = f"console-{uuid.uuid4().hex}"
        sys.stdout.write(f"\n--- SMS to ...{message.to_number[-4:]} ({message.kind}) ---\n")
        sys.stdout.write(f"{message.body}\n---\n")
        sys.stdout.flush()
        return sid

    def find_sent(self, message: Message, since: datetime) -> list[str]:
        return []  # the console keeps no record: an unknown send is sent again


class LocmemBackend:
    """Keeps sent SMS in `outbox`, like Django's locmem e-mail backend."""

    outbox: list[Sent] = []

    def send(self, message: Message) -> str:
        sent = Sent(message.to_number, message.body, f"locmem-{uuid.uuid4().hex}", timezone.now())
        self.outbox.append(sent)
        return sent.sid

    def find_sent(self, message: Message, since: datetime) -> list[str]:
        return [
            sent.sid
            for sent in self.outbox
            if (sent.to, sent.body) == (message.to_number, message.body) and sent.at >= since
        ]


class TwilioBackend:
    """The official `twilio` SDK; TWILIO_API_BASE_URL may point it at a fake."""

    def __init__(self):
        self._local = threading.local()

    @property
    def client(self):
        """This thread's client: each sending thread keeps its own connection pool."""
        if not hasattr(self._local, "client"):
            from .twilio_client import build_client

            self._local.client = build_client()
        return self._local.client

    def _sender(self) -> dict:
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            return {"messaging_service_sid": settings.TWILIO_MESSAGING_SERVICE_SID}
        return {"from_": settings.TWILIO_FROM_NUMBER}

    def send(self, message: Message) -> str:
        # Our id rides on the signed callback: a message whose response was lost is still
        # known by it when Twilio calls back (`delivery.claim_sid`).
        callback = settings.PUBLIC_BASE_URL + reverse("twilio-status") + f"?message={message.pk}"
        try:
            created = self.client.messages.create(
                to=message.to_number,
                body=message.body,
                status_callback=callback,
                **self._sender(),
            )
        except TwilioRestException as exc:
            raise _classify(exc) from exc
        except requests.RequestException as exc:
            never_sent = _never_reached_provider(exc)
            raise TransportError(
                str(exc), retryable=never_sent, ambiguous=not never_sent, outage=True
            ) from exc
        return created.sid

    def find_sent(self, message: Message, since: datetime) -> list[str]:
        """Messages with this body to this number that Twilio created since the attempt began,
        oldest first (of two identical texts in flight, the earlier attempt takes the older).

        Not filtered by DateSent: Twilio leaves it empty until the carrier
        hand-off (and filters it by day only), and a message still queued at
        Twilio is exactly the one we must not send again.
        """
        try:
            found = self.client.messages.list(to=message.to_number, limit=LOOKUP_LIMIT)
        except (TwilioException, requests.RequestException) as exc:
            raise TransportError(f"lookup failed: {exc}", ambiguous=True) from exc
        matching = [
            m
            for m in found
            if m.body == message.body and (m.date_created is None or m.date_created >= since)
        ]
        matching.sort(key=lambda m: (m.date_created is None, m.date_created or since))
        return [m.sid for m in matching]


def _never_reached_provider(exc: requests.RequestException) -> bool:
    """Only a failure to connect proves nothing was sent.

    A read timeout or a connection dropped mid-response may come after Twilio
    accepted the message.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _classify(exc: TwilioRestException) -> TransportError:
    code = str(exc.code or "")
    if exc.status == 429 or code == TOO_MANY_REQUESTS:
        return TransportError(exc.msg, code=code or TOO_MANY_REQUESTS, retryable=True)
    if exc.status == 401 or code == AUTHENTICATION_FAILED:
        # Our credentials, not the message: nothing was sent, so retry, and say it loudly.
        logger.error("Twilio refused our credentials (%s): check TWILIO_AUTH_TOKEN", code)
        return TransportError(exc.msg, code=code or AUTHENTICATION_FAILED, retryable=True)
    if exc.status >= 500:
        return TransportError(exc.msg, code=code, ambiguous=True)
    return TransportError(exc.msg, code=code)


BACKENDS = {"console": ConsoleBackend, "locmem": LocmemBackend, "twilio": TwilioBackend}


@cache
def get_backend():
    return BACKENDS[settings.SMS_BACKEND]()
