from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from audit.mixins import AuditedViewSetMixin
from cohorts.access import cohorts_for, patients_for

from .calendar import ICalendarRenderer, patient_calendar
from .filters import VisitFilter
from .models import InvalidTransition, Visit
from .serializers import (
    BookVisitSerializer,
    ScheduleSerializer,
    UpcomingSendSerializer,
    VisitNoteSerializer,
    VisitSerializer,
)
from .upcoming import upcoming_sends


class VisitViewSet(
    AuditedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Follow-up visits of the user's cohorts, and their workflow actions.

    Every successful read and action is audit-logged against the visit's
    patient (audit.mixins).
    """

    serializer_class = VisitSerializer
    audit_object_type = "visit"
    audit_actions = {
        "book": ("update", None),
        "complete": ("update", None),
        "miss": ("update", None),
        "cancel": ("update", None),
    }
    filterset_class = VisitFilter

    def get_queryset(self):
        # By the visit's own cohort, not `patient__in=<the user's patients>`: the partial
        # indexes lead with it, so the overdue list never walks the cohort's patients.
        # The ids themselves rather than a subquery: PostgreSQL then reads the cohort from
        # the indexes, where a join of the cohorts' table is one more step per row.
        cohorts = list(cohorts_for(self.request.user).values_list("pk", flat=True))
        return Visit.objects.filter(cohort__in=cohorts).select_related(
            "protocol", "patient__cohort"
        )

    def _act(self, request, serializer_class, move) -> Response:
        visit = self.get_object()
        payload = serializer_class(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            move(visit, by=request.user, **payload.validated_data)
        except InvalidTransition as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(VisitSerializer(visit).data)

    @extend_schema(request=BookVisitSerializer, responses=VisitSerializer)
    @action(detail=True, methods=["post"])
    def book(self, request, pk=None):
        return self._act(
            request,
            BookVisitSerializer,
            lambda visit, by, booked_at, **rest: visit.book(
                booked_at, rest.get("location", ""), by=by
            ),
        )

    @extend_schema(request=VisitNoteSerializer, responses=VisitSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        return self._act(request, VisitNoteSerializer, Visit.complete)

    @extend_schema(request=VisitNoteSerializer, responses=VisitSerializer)
    @action(detail=True, methods=["post"])
    def miss(self, request, pk=None):
        return self._act(request, VisitNoteSerializer, Visit.miss)

    @extend_schema(request=VisitNoteSerializer, responses=VisitSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._act(request, VisitNoteSerializer, Visit.cancel)


class PatientScheduleViewSet(AuditedViewSetMixin, viewsets.GenericViewSet):
    """A patient's plan: `/patients/{id}/schedule/`, `calendar/` and `upcoming/`."""

    audit_object_type = "patient"
    audit_actions = {
        "schedule": ("view", "schedule"),
        "upcoming": ("view", "schedule"),
        "calendar": ("export", "calendar"),
    }

    def finalize_response(self, request, response, *args, **kwargs):
        """Errors are JSON, as everywhere in the API, even where the answer is an .ics file."""
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and isinstance(
            response.accepted_renderer, ICalendarRenderer
        ):
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
        return response

    def get_queryset(self):
        return patients_for(self.request.user).select_related("cohort", "contact")

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
