from rest_framework import serializers

from cohorts.serializers import PatientField
from notifications.validators import validate_sms_safe
from scheduling.serializers import plausible_appointment

from . import care_teams, lesions
from .models import Flag, LesionReport, Questionnaire
from .triage import QUESTIONS, invalid_answers


class FlagSerializer(serializers.ModelSerializer):
    overdue = serializers.BooleanField(read_only=True)
    candidates = serializers.SerializerMethodField(
        help_text="A flag raised on a phone several patients share has no patient yet: the "
        "patients of yours who used that phone when it was raised, one of whom a "
        "coordinator assigns it to."
    )
    questionnaire_open = serializers.SerializerMethodField(
        help_text="The patient is still answering the SMS questions: the report will grow."
    )
    # Blank until resolved: said explicitly, or the schema would not allow "".
    outcome = serializers.ChoiceField(
        choices=Flag.Outcome.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Flag
        fields = [
            "id",
            "patient",
            "report",
            "urgency",
            "reasons",
            "rule_version",
            "status",
            "review_due_at",
            "overdue",
            "outcome",
            "outcome_note",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "urgent_visit",
            "questionnaire_open",
            "message",
            "candidates",
            "created_at",
        ]
        read_only_fields = fields

    def get_candidates(self, flag) -> list[int]:
        request = self.context.get("request")
        if flag.patient_id is not None or request is None:
            return []
        found = care_teams.candidates(flag, request.user).order_by("pk")
        return list(found.values_list("pk", flat=True))

    def get_questionnaire_open(self, flag) -> bool:
        annotated = getattr(flag, "questionnaire_open", None)
        if annotated is not None:
            return annotated
        if flag.report_id is None:
            return False
        return Questionnaire.objects.filter(
            report_id=flag.report_id, closed_at__isnull=True
        ).exists()


class ResolveFlagSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Flag.Outcome.choices)
    note = serializers.CharField(required=False, allow_blank=True)


class UrgentVisitSerializer(serializers.Serializer):
    booked_at = serializers.DateTimeField(
        required=False, help_text="Book it now, if known.", validators=[plausible_appointment]
    )
    location = serializers.CharField(
        required=False, allow_blank=True, max_length=200, validators=[validate_sms_safe]
    )


class LesionReportSerializer(serializers.ModelSerializer):
    """A report entered by staff (phone call, clinic visit): channel "staff"."""

    patient = PatientField()
    flag = serializers.PrimaryKeyRelatedField(read_only=True)
    complete = serializers.BooleanField(required=False)

    class Meta:
        model = LesionReport
        fields = [
            "id",
            "patient",
            "channel",
            "answers",
            "complete",
            "note",
            "flag",
            "created_at",
            "created_by",
        ]
        read_only_fields = ["channel", "created_at", "created_by"]

    def validate_answers(self, answers):
        if not isinstance(answers, dict):
            raise serializers.ValidationError("Answers are an object: question -> answer.")
        errors = invalid_answers(answers)
        if errors:
            raise serializers.ValidationError(errors)
        return answers

    def validate(self, attrs):
        if not attrs.get("answers") and not attrs.get("note", "").strip():
            raise serializers.ValidationError(
                {"answers": "Give the answers the patient could give, or a note of what they said."}
            )
        return attrs

    def create(self, validated_data):
        answers = validated_data.get("answers", {})
        complete = validated_data.get("complete", set(answers) == set(QUESTIONS))
        flag = lesions.record_report(
            validated_data["patient"],
            LesionReport.Channel.STAFF,
            answers,
            complete=complete,
            by=self.context["request"].user,
            note=validated_data.get("note", ""),
        )
        return flag.report
