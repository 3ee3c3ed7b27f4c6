"""A patient's timeline: who they are, their tier and its history, visits, every message,
reports and flags, and who looked; with the actions a coordinator takes from there.

Pausing reminders goes through the API's patient serializer, a check-in through
the same refusal rules as the API's, a withdrawal through the API's serializer
and service: one set of rules.
"""

import uuid

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit import trail
from audit.models import AuditEvent
from cohorts import messaging, site_days
from cohorts.access import patients_for
from cohorts.models import Patient
from cohorts.serializers import PatientSerializer
from cohorts.views import check_in_refusal
from records import withdrawal
from records.serializers import WithdrawalSerializer
from scheduling.models import Visit

from .access import mine_or_404, staff_page
from .posted import first_error
from .responses import refused

SHOWN = 50


def _patient(request: HttpRequest, patient_id: int, lock: bool = False) -> Patient:
    found = patients_for(request.user).select_related("cohort", "contact", "profile")
    if lock:
        found = found.select_for_update(of=("self",))
    return mine_or_404(found, patient_id, "patient")


@staff_page
@require_GET
def timeline(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = _patient(request, patient_id)
    context = {
        "patient": patient,
        "zone": patient.cohort.timezone,
        "assessments": list(patient.risk_assessments.order_by("-assessed_at", "-pk")[:10]),
        "profile_history": list(patient.profile.history.order_by("-history_date")[:10]),
        "upcoming": list(
            patient.visits.filter(status__in=[Visit.Status.PLANNED, Visit.Status.BOOKED]).order_by(
                "due_date"
            )[:SHOWN]
        ),
        "past": list(
            patient.visits.exclude(status__in=[Visit.Status.PLANNED, Visit.Status.BOOKED]).order_by(
                "-due_date"
            )[:SHOWN]
        ),
        "sms": list(patient.messages.order_by("-created_on", "-pk")[:SHOWN]),
        "flags": list(
            patient.flags.select_related("report").order_by("-created_at", "-pk")[:SHOWN]
        ),
        "looked": list(
            AuditEvent.objects.about(patient.pk)
            .select_related("user")
            .order_by("-at", "-pk")[:SHOWN]
        ),
        "today": timezone.localdate(timezone.now()),
        "withdrawal_reasons": Patient.WithdrawalReason.choices,
        "site_today": site_days.today(patient.cohort),
        "error": request.GET.get("error", ""),
    }
    response = render(request, "staff/timeline.html", context)
    trail.record(request, trail.Action.VIEW, patient, "patient", patient.pk)
    return response


@staff_page
@require_POST
def pause(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Pause routine reminders until a date (empty: resume), with the API's validation."""
    patient = _patient(request, patient_id)
    until = request.POST.get("until") or None
    payload = PatientSerializer(
        patient,
        data={"reminders_paused_until": until},
        partial=True,
        context={"request": request},
    )
    if not payload.is_valid():
        return refused(request, first_error(payload.errors))
    payload.save()
    trail.record(request, trail.Action.UPDATE, patient, "patient", patient.pk)
    return redirect("staff:patient", patient_id=patient.pk)


@staff_page
@require_POST
def check_in(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Queue a check-in SMS (once: a double click finds the first)."""
    with transaction.atomic():
        patient = _patient(request, patient_id, lock=True)
        refusal = check_in_refusal(patient, timezone.now())
        if refusal:
            return refused(request, refusal["detail"], status=409)
        messaging.queue(patient, "check_in", f"check_in:{patient.pk}:{uuid.uuid4()}")
    trail.record(request, trail.Action.CREATE, patient, "message")
    return redirect("staff:patient", patient_id=patient.pk)


@staff_page
@require_POST
def withdraw(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Withdraw the patient from follow-up (a reason, a date: today if none), as the API does."""
    patient = _patient(request, patient_id)
    payload = WithdrawalSerializer(data=request.POST, context={"patient": patient})
    if not payload.is_valid():
        return refused(request, first_error(payload.errors))
    try:
        withdrawal.withdraw(patient, by=request.user, **payload.validated_data)
    except withdrawal.WithdrawalRefused as exc:
        return refused(request, str(exc), status=409)
    trail.record(request, trail.Action.UPDATE, patient, "patient", patient.pk)
    messages.success(
        request,
        f"{patient.first_name} {patient.last_name} is withdrawn from follow-up: no more "
        "reminders, queued SMS cancelled. Their open flags stay open for the care team to close.",
    )
    return redirect("staff:patient", patient_id=patient.pk)
