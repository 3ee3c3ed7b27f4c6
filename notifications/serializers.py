from rest_framework import serializers

from .models import Message


class MessageSerializer(serializers.ModelSerializer):
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
