"""The inbox: patients' own words and messages from unknown or shared numbers.

Each is marked reviewed one by one or in bulk, and a patient's message can be
answered: the reply is an outbound message like any other (the outbox, the
sending rules: consent, STOP, quiet hours), in the patient's language's frame.
"""

import uuid

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit import trail
from cohorts import messaging
from cohorts.models import Patient
from cohorts.patient_messages import mark_reviewed, visible_messages
from notifications.models import Message
from notifications.validators import validate_sms_safe

from . import worklist
from .access import message_patient_id, mine_or_404, staff_page
from .responses import refused
from .today import chosen_cohorts

SHOWN = 50  # a page; the next ones are newer


class ReplyForm(forms.Form):
    text = forms.CharField(max_length=300, validators=[validate_sms_safe], strip=True)


def _waiting(request: HttpRequest):
    return worklist.inbox(request.user, chosen_cohorts(request), timezone.now())


def _page_number(request: HttpRequest) -> int:
    """`?page=` (1 by default); anything else that is not a page number is a 404."""
    asked = request.GET.get("page", "1")
    if not asked.isdigit() or int(asked) < 1:
        raise Http404("No such page.")
    return int(asked)


def _page_link(request: HttpRequest, number: int) -> str:
    query = request.GET.copy()
    query["page"] = str(number)
    return f"?{query.urlencode()}"


@staff_page
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    number = _page_number(request)
    shown = worklist.first_rows(_waiting(request), SHOWN, skip=(number - 1) * SHOWN)
    if number > 1 and not shown.rows:
        raise Http404("No such page.")
    messages = worklist.with_patients(shown.rows)
    context = {
        "waiting": messages,
        "counted": shown.counted,
        "page": number,
        "page_size": SHOWN,
        "previous_page": _page_link(request, number - 1) if number > 1 else "",
        "next_page": _page_link(request, number + 1) if shown.more else "",
    }
    response = render(request, "staff/inbox.html", context)
    rows = [(m.about.pk if m.about else None, m.pk) for m in messages]
    trail.record_list(request, rows, "message", reason="inbox")
    return response


@staff_page
@require_POST
def review_many(request: HttpRequest) -> HttpResponse:
    """Mark the ticked messages reviewed (only those the user may see)."""
    ids = [int(value) for value in request.POST.getlist("message") if value.isdigit()]
    chosen = list(_waiting(request).filter(pk__in=ids))
    if not chosen:
        return refused(request, "Tick the messages to mark reviewed.")
    for message in chosen:
        mark_reviewed(message, request.user)
    trail.record_rows(
        request, trail.Action.UPDATE, [(m.subject_id, m.pk) for m in chosen], "message"
    )
    return redirect("staff:inbox")


@staff_page
@require_POST
def reply(request: HttpRequest, message_id: int) -> HttpResponse:
    """Answer a patient's message through the outbox; the message is then reviewed."""
    message = mine_or_404(visible_messages(request.user), message_id, "message", message_patient_id)
    patient = Patient.objects.filter(pk=message.subject_id).select_related("cohort").first()
    if patient is None or message.direction != Message.Direction.INBOUND:
        return refused(request, "Only a patient's own message can be answered here.")
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return refused(request, form.errors["text"][0])
    messaging.queue(
        patient,
        Message.Kind.REPLY,
        f"reply:{message.pk}:{uuid.uuid4()}",
        is_reply=True,
        text=form.cleaned_data["text"],
    )
    mark_reviewed(message, request.user)
    trail.record(request, trail.Action.CREATE, patient, "message", message.pk)
    return redirect("staff:inbox")
