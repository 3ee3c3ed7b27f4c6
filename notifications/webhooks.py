"""Twilio webhooks: inbound SMS and delivery status callbacks.

The signature is checked before anything is parsed or stored: Twilio signs
the public URL it called (PUBLIC_BASE_URL + path + query) and the POST
parameters with our auth token. A forged or unsigned request gets 403 and
changes nothing; a replayed one changes nothing either (inbound messages are
keyed by their MessageSid, statuses never move backwards).
"""

from functools import wraps

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from . import delivery, inbound
from .models import Message

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio's callback statuses that we record, and ours they become.
STATUSES = {
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "undelivered": Message.Status.UNDELIVERABLE,
    "failed": Message.Status.FAILED,
}


def twilio_signed(view):
    """403 unless X-Twilio-Signature matches the public URL and the POST body."""

    @wraps(view)
    def checked(request, *args, **kwargs):
        signature = request.headers.get("X-Twilio-Signature", "")
        url = settings.PUBLIC_BASE_URL + request.get_full_path()
        validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
        if not (settings.TWILIO_AUTH_TOKEN and signature):
            return HttpResponseForbidden("Missing Twilio signature.")
        if not validator.validate(url, request.POST.dict(), signature):
            return HttpResponseForbidden("Invalid Twilio signature.")
        return view(request, *args, **kwargs)

    return checked


def _unstorable(post) -> str:
    """Why a signed inbound request cannot be a Twilio message (a 400), or ""."""
    if len(post["MessageSid"]) > Message._meta.get_field("provider_sid").max_length:
        return "MessageSid is too long."
    for name in ("From", "To"):
        if len(post.get(name, "")) > Message._meta.get_field("from_number").max_length:
            return f"{name} is too long."
    return ""


def _missing(request, *names: str) -> str:
    return ", ".join(name for name in names if name not in request.POST)


@csrf_exempt
@require_POST
@twilio_signed
def inbound_sms(request):
    missing = _missing(request, "MessageSid", "From", "Body")
    if missing:
        return HttpResponseBadRequest(f"Missing: {missing}")
    post = request.POST
    problem = _unstorable(post)
    if problem:
        return HttpResponseBadRequest(problem)
    # Stored as written, but for NUL, which PostgreSQL text cannot hold.
    body = post["Body"].replace("\x00", "\ufffd")
    inbound.receive(post["MessageSid"], post["From"], post.get("To", ""), body)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@csrf_exempt
@require_POST
@twilio_signed
def delivery_status(request):
    missing = _missing(request, "MessageSid", "MessageStatus")
    if missing:
        return HttpResponseBadRequest(f"Missing: {missing}")
    sid = request.POST["MessageSid"]
    if len(sid) > Message._meta.get_field("provider_sid").max_length:
        return HttpResponseBadRequest("MessageSid is too long.")
    status = STATUSES.get(request.POST["MessageStatus"])
    with transaction.atomic():
        message_id = request.GET.get("message", "")
        if message_id.isdecimal() and len(message_id) < 19:
            delivery.claim_sid(int(message_id), sid)
        if status is not None:
            delivery.record_status(sid, status, request.POST.get("ErrorCode", ""))
    return HttpResponse(status=204)
