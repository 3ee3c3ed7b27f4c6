from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from surveillance.access import patients_for
from surveillance.audit import AuditedViewSetMixin

from .filters import VisitFilter
from .models import InvalidTransition, Visit
from .serializers import BookVisitSerializer, VisitNoteSerializer, VisitSerializer


class VisitViewSet(
    AuditedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Follow-up visits of the user's cohorts, and their workflow actions.

    Every successful read and action is audit-logged against the visit's
    patient (surveillance.audit).
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
        return Visit.objects.filter(patient__in=patients_for(self.request.user)).select_related(
            "protocol"
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
