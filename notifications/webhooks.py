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
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from surveillance.models import Patient

from . import inbound
from .backends import INVALID_NUMBERS, UNSUBSCRIBED
from .models import Message

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio's callback statuses that we record, and ours they become.
STATUSES = {
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "undelivered": Message.Status.UNDELIVERABLE,
    "failed": Message.Status.FAILED,
}
# Delivery error codes that mean the number cannot take SMS.
UNREACHABLE_NUMBERS = {"30005": "unknown number", "30006": "landline or unreachable carrier"}


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
    with transaction.atomic():
        message, created = inbound.store(
            post["MessageSid"], post["From"], post.get("To", ""), post["Body"]
        )
    if created:
        inbound.route_safely(message.pk)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@csrf_exempt
@require_POST
@twilio_signed
def delivery_status(request):
    missing = _missing(request, "MessageSid", "MessageStatus")
    if missing:
        return HttpResponseBadRequest(f"Missing: {missing}")
    status = STATUSES.get(request.POST["MessageStatus"])
    if status is not None:
        record_status(request.POST["MessageSid"], status, request.POST.get("ErrorCode", ""))
    return HttpResponse(status=204)


@transaction.atomic
def record_status(sid: str, status: str, error_code: str) -> None:
    """Move a message forward only: a late "sent" never undoes "delivered"."""
    message = Message.objects.select_for_update().filter(provider_sid=sid).first()
    if message is None or Message.PROGRESS[status] <= Message.PROGRESS[message.status]:
        return
    message.status, message.error_code = status, error_code or message.error_code
    if status == Message.Status.DELIVERED:
        message.delivered_at = timezone.now()
    message.save(update_fields=["status", "error_code", "delivered_at", "modified_on"])
    if message.patient_id and error_code:
        _flag_number(message.patient_id, error_code)


def _flag_number(patient_id: int, code: str) -> None:
    if code == UNSUBSCRIBED:
        Patient.objects.filter(pk=patient_id, sms_opted_out_at__isnull=True).update(
            sms_opted_out_at=timezone.now()
        )
    reason = INVALID_NUMBERS.get(code) or UNREACHABLE_NUMBERS.get(code)
    if reason:
        Patient.objects.filter(pk=patient_id).update(
            phone_invalid_at=timezone.now(), phone_invalid_reason=f"Twilio {code}: {reason}"
        )
