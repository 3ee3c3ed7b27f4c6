"""The phone simulator (development only): play a demo patient's phone.

It shows the SMS the service sent to that patient's number and sends their
reply through the same inbound route Twilio's webhook takes once the
signature is checked (`notifications.inbound.receive`). It exists only
where SMS are printed, not sent (PHONE_SIMULATOR, on with the console
backend; settings refuse it with Twilio), so no real phone is ever played.
"""

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from audit import trail
from cohorts.access import patients_for
from notifications import inbound
from notifications.models import Message

from .access import mine_or_404, staff_page

SHOWN_PATIENTS = 200
SHOWN_MESSAGES = 50
SERVICE_NUMBER = "+15005550006"  # Twilio's documented test number: what the phone replies to


def _conversation(contact_id: int) -> list[Message]:
    newest = Message.objects.filter(contact_id=contact_id).order_by("-created_on", "-pk")
    return list(reversed(newest[:SHOWN_MESSAGES]))


@staff_page
@require_GET
def phone(request: HttpRequest) -> HttpResponse:
    patients = patients_for(request.user).select_related("contact").order_by("last_name", "pk")
    chosen = patients.filter(pk=request.GET.get("patient") or 0).first()
    context = {
        "patients": patients[:SHOWN_PATIENTS],
        "chosen": chosen,
        "conversation": _conversation(chosen.contact_id) if chosen else [],
    }
    response = render(request, "staff/phone.html", context)
    if chosen:
        trail.record(request, trail.Action.VIEW, chosen, "message", reason="phone simulator")
    return response


@staff_page
@require_POST
def reply(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = mine_or_404(
        patients_for(request.user).select_related("contact"), patient_id, "patient"
    )
    body = request.POST.get("body", "").strip()[:1600]
    if body:
        to = settings.TWILIO_FROM_NUMBER or SERVICE_NUMBER
        inbound.receive(f"SMsim{uuid.uuid4().hex}", patient.contact.number, to, body)
    return redirect(f"{reverse('staff:phone')}?patient={patient.pk}")
