import uuid

from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from notifications import dispatch, outbox
from notifications.serializers import CheckInSerializer
from scheduling.calendar import ICalendarRenderer, patient_calendar
from scheduling.serializers import ScheduleSerializer, UpcomingSendSerializer, VisitSerializer
from scheduling.upcoming import upcoming_sends

from . import lesions
from .access import can_resolve, cohorts_for, is_admin, patients_for
from .audit import AuditedViewSetMixin
from .filters import FlagFilter, LesionReportFilter, PatientFilter
from .models import Flag, LesionReport
from .serializers import (
    CohortSerializer,
    FlagSerializer,
    LesionReportSerializer,
    PatientSerializer,
    ResolveFlagSerializer,
    RiskAssessmentSerializer,
    UrgentVisitSerializer,
)


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
    audit_actions = {
        "risk": ("view", "risk"),
        "schedule": ("view", "schedule"),
        "upcoming": ("view", "schedule"),
        "check_in": ("create", "message"),
        "calendar": ("export", "calendar"),
    }
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

    @extend_schema(responses={(200, "text/calendar"): OpenApiTypes.BINARY})
    @action(
        detail=True,
        methods=["get"],
        pagination_class=None,
        filter_backends=[],
        renderer_classes=[ICalendarRenderer, JSONRenderer],
    )
    def calendar(self, request, pk=None):
        """The patient's visits as an iCalendar file (an audited export)."""
        patient = self.get_object()
        body = patient_calendar(patient, request.get_host().split(":")[0])
        filename = f"follow-up-{patient.pk}.ics"
        return Response(
            body,
            content_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @extend_schema(responses=UpcomingSendSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def upcoming(self, request, pk=None):
        """Every SMS due to go to this patient, with when and what holds it back."""
        sends = upcoming_sends(self.get_object(), timezone.now())
        return Response(UpcomingSendSerializer(sends, many=True).data)

    @extend_schema(request=None, responses={202: CheckInSerializer})
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request, pk=None):
        """Send a self-exam check-in now, by the same rules as every SMS.

        409 when the patient cannot get SMS at all (no consent, STOP, bad
        number); otherwise 202 and when it will go (quiet hours, cap, pause).
        """
        with transaction.atomic():
            patient = self.get_object()
            refusal = dispatch.refusal(patient)
            if refusal:
                return Response({"detail": refusal}, status=status.HTTP_409_CONFLICT)
            message = outbox.queue(patient, "check_in", f"check_in:{patient.pk}:{uuid.uuid4()}")
            decision = dispatch.decide(message, patient, timezone.now())
        body = {
            "message": message,
            "will_send_at": decision.send_at,
            "held_because": decision.reason,
        }
        return Response(CheckInSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class LesionReportViewSet(
    AuditedViewSetMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Lesion reports of the user's cohorts; staff enter reports taken by phone or in clinic."""

    serializer_class = LesionReportSerializer
    filterset_class = LesionReportFilter
    audit_object_type = "lesion_report"

    def get_queryset(self):
        return LesionReport.objects.filter(patient__in=patients_for(self.request.user))


class FlagViewSet(
    AuditedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Flags to review, and the review steps: acknowledge, urgent visit, resolve.

    Coordinators and clinical leads acknowledge; resolving (with an outcome)
    is for the cohort's clinical leads and admins.
    """

    serializer_class = FlagSerializer
    filterset_class = FlagFilter
    audit_object_type = "flag"

    def get_queryset(self):
        return Flag.objects.filter(patient__in=patients_for(self.request.user))

    def _step(self, step) -> Response:
        try:
            flag = step()
        except lesions.FlagStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(FlagSerializer(flag).data)

    @extend_schema(request=None, responses=FlagSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        flag = self.get_object()
        return self._step(lambda: lesions.acknowledge(flag, request.user))

    @extend_schema(request=ResolveFlagSerializer, responses=FlagSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        flag = self.get_object()
        if not can_resolve(request.user, flag.patient.cohort):
            raise PermissionDenied("Only the cohort's clinical leads resolve flags.")
        payload = ResolveFlagSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._step(
            lambda: lesions.resolve(
                flag,
                payload.validated_data["outcome"],
                request.user,
                payload.validated_data.get("note", ""),
            )
        )

    @extend_schema(request=UrgentVisitSerializer, responses=VisitSerializer)
    @action(detail=True, methods=["post"], url_path="urgent-visit")
    def urgent_visit(self, request, pk=None):
        """The one-click urgent visit for this flag's patient (booked if a time is given)."""
        flag = self.get_object()
        payload = UrgentVisitSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            visit = lesions.add_urgent_visit(flag, request.user, **payload.validated_data)
        except lesions.FlagStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(VisitSerializer(visit).data, status=status.HTTP_201_CREATED)
