import uuid

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from audit.mixins import AuditedViewSetMixin
from notifications import dispatch

from . import messaging
from .access import cohorts_for, is_admin, patients_for
from .filters import PatientFilter
from .patient_messages import CheckInSerializer
from .serializers import CohortSerializer, PatientSerializer, RiskAssessmentSerializer


class IsAdminOrReadOnly(permissions.BasePermission):
    """Cohorts are set up by admins; members only read them."""

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or is_admin(request.user)


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
        number); otherwise 202 and when it will go (quiet hours, cap, pause).
        """
        with transaction.atomic():
            patient = self.get_object()
            refusal = patient.contact.refusal()
            if refusal:
                return Response({"detail": refusal}, status=status.HTTP_409_CONFLICT)
            message = messaging.queue(patient, "check_in", f"check_in:{patient.pk}:{uuid.uuid4()}")
            decision = dispatch.decide(
                message, patient.contact, timezone.now(), patient.reminders_paused_until
            )
        body = {
            "message": message,
            "will_send_at": decision.send_at,
            "held_because": decision.reason,
        }
        return Response(CheckInSerializer(body).data, status=status.HTTP_202_ACCEPTED)
