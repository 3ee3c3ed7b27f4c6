from django.db.models import Exists, OuterRef
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from audit.mixins import AuditedViewSetMixin
from bulk_sql.parts import in_parts
from cohorts.access import can_resolve, cohorts_for, is_admin
from cohorts.patient_messages import AssignSerializer, assign_message
from scheduling.serializers import VisitSerializer

from . import care_teams, lesions
from .care_teams import cohort_parts
from .filters import FlagFilter, LesionReportFilter
from .models import Flag, LesionReport, Questionnaire
from .serializers import (
    FlagSerializer,
    LesionReportSerializer,
    ResolveFlagSerializer,
    UrgentVisitSerializer,
)


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
        # Each report names its flag: loaded with it, not one query a report. Scoped by the
        # cohorts' ids (as the flags list); an admin's are all of them: no join at all, where
        # the patients' subquery made PostgreSQL hash every patient to count them.
        reports = LesionReport.objects.select_related("flag")
        if is_admin(self.request.user):
            return reports
        mine = list(cohorts_for(self.request.user).values_list("pk", flat=True))
        return reports.filter(patient__cohort__in=mine)


NOT_YOURS = (
    "Only the cohort's clinical leads resolve flags "
    "(a withdrawn patient's flags, anyone on the care team closes)."
)


class FlagViewSet(
    AuditedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Flags to review, and the review steps: acknowledge, urgent visit, resolve.

    Coordinators and clinical leads acknowledge; resolving (with an outcome)
    is for the cohort's clinical leads and admins, except closing a withdrawn
    patient's flag ("patient_withdrawn"), which the whole care team may.
    """

    serializer_class = FlagSerializer
    filterset_class = FlagFilter
    audit_object_type = "flag"

    def get_queryset(self):
        still_asking = Questionnaire.objects.filter(
            report_id=OuterRef("report_id"), closed_at__isnull=True
        )
        # The cohorts' ids, not a subquery: as the visits list (scheduling.views).
        mine = list(cohorts_for(self.request.user).values_list("pk", flat=True))
        flags = Flag.objects.select_related("message").annotate(
            questionnaire_open=Exists(still_asking)
        )
        return in_parts(flags, cohort_parts(mine, every_cohort=is_admin(self.request.user)))

    def _step(self, step) -> Response:
        try:
            flag = step()
        except lesions.FlagStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(flag).data)

    @extend_schema(request=AssignSerializer, responses=FlagSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Say whose report a flag raised on a shared phone is, in one step.

        The patient is one of its `candidates`. Their report becomes this flag's,
        its deadlines still counted from the message; urgency never falls. 409 if
        the flag already has a patient.
        """
        flag = self.get_object()
        if flag.patient_id is not None:
            return Response(
                {"detail": "This flag already has a patient."}, status=status.HTTP_409_CONFLICT
            )
        assign_message(flag.message, request, among=care_teams.candidates(flag, request.user))
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=None, responses=FlagSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        flag = self.get_object()
        return self._step(lambda: lesions.acknowledge(flag, request.user))

    @extend_schema(request=ResolveFlagSerializer, responses=FlagSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        flag = self.get_object()
        if flag.patient_id is None:
            return Response({"detail": lesions.UNASSIGNED}, status=status.HTTP_409_CONFLICT)
        outcome = request.data.get("outcome") if isinstance(request.data, dict) else None
        if not (
            can_resolve(request.user, flag.patient.cohort)
            or outcome in lesions.outcomes_for(request.user, flag)
        ):
            raise PermissionDenied(NOT_YOURS)
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

    @extend_schema(request=UrgentVisitSerializer, responses={201: VisitSerializer})
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
