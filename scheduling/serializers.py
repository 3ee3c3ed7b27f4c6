from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from notifications.validators import validate_sms_safe

from .models import ReminderSeries, Visit


class VisitSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=Visit.State.choices, read_only=True)
    protocol_version = serializers.IntegerField(
        source="protocol.version", read_only=True, allow_null=True
    )

    class Meta:
        model = Visit
        fields = [
            "id",
            "patient",
            "kind",
            "due_date",
            "window_start",
            "window_end",
            "status",
            "state",
            "booked_at",
            "location",
            "note",
            "protocol_version",
            "status_changed_at",
            "status_changed_by",
        ]
        read_only_fields = fields


def plausible_appointment(moment):
    """An appointment from a week ago (recorded late) to five years ahead."""
    now = timezone.now()
    if not now - timedelta(days=7) <= moment <= now + timedelta(days=5 * 365):
        raise serializers.ValidationError("Give an appointment time within the next five years.")
    return moment


class BookVisitSerializer(serializers.Serializer):
    booked_at = serializers.DateTimeField(
        help_text="Appointment date and time.", validators=[plausible_appointment]
    )
    location = serializers.CharField(
        max_length=200, required=False, allow_blank=True, validators=[validate_sms_safe]
    )


class VisitNoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True)


class ReminderSerializer(serializers.ModelSerializer):
    upcoming = serializers.SerializerMethodField()

    class Meta:
        model = ReminderSeries
        fields = ["id", "kind", "rule", "dtstart", "timezone", "next_due_at", "upcoming"]

    def get_upcoming(self, series: ReminderSeries) -> list[str]:
        field = serializers.DateTimeField()
        return [field.to_representation(moment) for moment in series.upcoming(5)]


class ScheduleSerializer(serializers.Serializer):
    visits = VisitSerializer(many=True)
    reminders = ReminderSerializer(many=True)


class UpcomingSendSerializer(serializers.Serializer):
    kind = serializers.CharField()
    due_at = serializers.DateTimeField()
    source = serializers.CharField()
    held_because = serializers.CharField()
