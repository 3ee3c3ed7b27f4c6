import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from audit.mixins import AuditedViewSetMixin
from notifications import claim
from notifications.models import Message

from . import messaging
from .access import cohorts_for, is_admin, patients_for
from .filters import PatientFilter
from .models import Patient
from .patient_messages import CheckInSerializer
from .serializers import CohortSerializer, PatientSerializer, RiskAssessmentSerializer


class IsAdminOrReadOnly(permissions.BasePermission):
    """Cohorts are set up by admins; members only read them."""

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or is_admin(request.user)


# A second check-in for the same patient this soon is taken for a double click.
CHECK_IN_WINDOW = timedelta(minutes=10)


def check_in_refusal(patient: Patient, now) -> dict | None:
    """Why no check-in may be queued for this patient now (a 409 body), or None."""
    if not patient.is_active:
        return {"detail": "The patient is no longer followed up."}
    refusal = patient.contact.refusal()
    if refusal:
        return {"detail": refusal}
    recent = (
        patient.messages.filter(kind=Message.Kind.CHECK_IN, created_on__gt=now - CHECK_IN_WINDOW)
        .order_by("-created_on")
        .first()
    )
    if recent is not None:
        return {
            "detail": "A check-in was already queued for this patient a moment ago.",
            "message": recent.pk,
        }
    return None


class CohortViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = CohortSerializer
    permission_classes = [permissions.IsAuthenticated, IsAdminOrReadOnly]
    filterset_fields = ["site", "is_active"]

    def get_queryset(self):
        return cohorts_for(self.request.user).prefetch_related("coordinators", "clinical_leads")


class PatientViewSet(
    AuditedViewSetMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Patients of the user's cohorts, with their tumour profile nested.

    Patients are never deleted: their follow-up history is clinical record.
    Every successful read and write is audit-logged (audit.mixins).
    """

    serializer_class = PatientSerializer
    audit_object_type = "patient"
    audit_actions = {"risk": ("view", "risk"), "check_in": ("create", "message")}
    filterset_class = PatientFilter

    def get_queryset(self):
        return patients_for(self.request.user).select_related("profile", "cohort", "contact")

    @extend_schema(responses=RiskAssessmentSerializer)
    @action(detail=True, methods=["get"])
    def risk(self, request, pk=None):
        assessment = self.get_object().latest_assessment
        if assessment is None:
            raise NotFound("This patient has not been assessed yet.")
        return Response(RiskAssessmentSerializer(assessment).data)

    @extend_schema(request=None, responses={202: CheckInSerializer})
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request, pk=None):
        """Send a self-exam check-in now, by the same rules as every SMS.

        409 when the patient cannot get SMS at all (no consent, STOP, bad
        number, no longer followed up) or was sent one in the last
        `CHECK_IN_WINDOW` (a double click: the answer names that message);
        otherwise 202 and when it will go (quiet hours, cap, pause).
        """
        with transaction.atomic():
            patient = self.get_object()
            # One check-in at a time per patient: a second click waits here, then sees the first.
            Patient.objects.select_for_update().filter(pk=patient.pk).first()
            refusal = check_in_refusal(patient, timezone.now())
            if refusal:
                return Response(refusal, status=status.HTTP_409_CONFLICT)
            message = messaging.queue(patient, "check_in", f"check_in:{patient.pk}:{uuid.uuid4()}")
            decision = claim.decide(
                message, patient.contact, timezone.now(), patient.reminders_paused_until
            )
        body = {
            "message": message,
            "will_send_at": decision.send_at,
            "held_because": decision.reason,
        }
        return Response(CheckInSerializer(body).data, status=status.HTTP_202_ACCEPTED)
