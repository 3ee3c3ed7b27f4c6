from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from surveillance.access import is_admin, patients_for
from surveillance.audit import AuditedViewSetMixin

from .filters import MessageFilter
from .models import Message
from .serializers import MessageSerializer


class MessageViewSet(
    AuditedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """SMS to and from the patients of the user's cohorts.

    Inbound messages nobody could route (`needs_review=true`) are the
    coordinators' inbox; admins also see those from unknown numbers.
    """

    serializer_class = MessageSerializer
    filterset_class = MessageFilter
    audit_object_type = "message"

    def get_queryset(self):
        user = self.request.user
        visible = Q(patient__in=patients_for(user))
        if is_admin(user):
            visible |= Q(patient__isnull=True)
        return Message.objects.filter(visible)

    @extend_schema(request=None, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """Mark an inbound message as read and dealt with."""
        message = self.get_object()
        if message.reviewed_at is None:
            message.reviewed_at, message.reviewed_by = timezone.now(), request.user
            message.needs_review = False
            message.save(
                update_fields=["reviewed_at", "reviewed_by", "needs_review", "modified_on"]
            )
        return Response(MessageSerializer(message).data)
