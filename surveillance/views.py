from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from scheduling.serializers import ScheduleSerializer

from .access import cohorts_for, is_admin, patients_for
from .audit import AuditedViewSetMixin
from .filters import PatientFilter
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
    Every successful read and write is audit-logged (surveillance.audit).
    """

    serializer_class = PatientSerializer
    audit_object_type = "patient"
    audit_actions = {"risk": ("view", "risk"), "schedule": ("view", "schedule")}
    filterset_class = PatientFilter

    def get_queryset(self):
        return patients_for(self.request.user).select_related("profile", "cohort")

    @extend_schema(responses=RiskAssessmentSerializer)
    @action(detail=True, methods=["get"])
    def risk(self, request, pk=None):
        assessment = self.get_object().latest_assessment
        if assessment is None:
            raise NotFound("This patient has not been assessed yet.")
        return Response(RiskAssessmentSerializer(assessment).data)

    @extend_schema(responses=ScheduleSerializer)
    @action(detail=True, methods=["get"])
    def schedule(self, request, pk=None):
        patient = self.get_object()
        schedule = {
            "visits": patient.visits.select_related("protocol").order_by("due_date", "kind"),
            "reminders": patient.reminder_series.filter(is_active=True).order_by("dtstart"),
        }
        return Response(ScheduleSerializer(schedule).data)
