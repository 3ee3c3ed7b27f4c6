"""The messages API: SMS to and from the patients of the user's cohorts."""

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.mixins import AuditedViewSetMixin
from notifications.models import Message

from .access import is_admin, patients_for
from .filters import MessageFilter


class MessageSerializer(serializers.ModelSerializer):
    patient = serializers.IntegerField(
        source="subject_id", read_only=True, allow_null=True, help_text="The patient it is about."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "patient",
            "direction",
            "kind",
            "body",
            "status",
            "urgent",
            "is_reply",
            "provider_sid",
            "send_after",
            "hold_reason",
            "attempts",
            "sent_at",
            "delivered_at",
            "error",
            "error_code",
            "routed_as",
            "needs_review",
            "reviewed_at",
            "reviewed_by",
            "created_on",
        ]
        read_only_fields = fields


class CheckInSerializer(serializers.Serializer):
    message = MessageSerializer()
    will_send_at = serializers.DateTimeField()
    held_because = serializers.CharField(help_text="quiet_hours, frequency_cap, paused or empty")


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

    def audit_patient_id(self, message) -> int | None:
        return message.subject_id

    def get_queryset(self):
        user = self.request.user
        visible = Q(patient__in=patients_for(user))
        if is_admin(user):
            visible |= Q(subject_id__isnull=True)
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
