from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notifications.phones import to_e164
from scheduling.serializers import plausible_appointment

from . import lesions, services
from .access import cohorts_for, patients_for
from .models import (
    Cohort,
    ConsentSource,
    Flag,
    LesionReport,
    Patient,
    RiskAssessment,
    TumourProfile,
)
from .triage import QUESTIONS, invalid_answers
from .validators import validate_time_zone

MRN_TAKEN = "This MRN is already enrolled at this site."


def _django_validator(validate, value):
    """Run a Django validator and report its message as a DRF field error."""
    try:
        return validate(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from exc


class CohortSerializer(serializers.ModelSerializer):
    coordinators = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=get_user_model().objects.all()
    )
    clinical_leads = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=get_user_model().objects.all()
    )

    class Meta:
        model = Cohort
        fields = ["id", "name", "site", "coordinators", "clinical_leads", "is_active", "created_on"]
        read_only_fields = ["created_on"]


class TumourProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = TumourProfile
        fields = [
            "er",
            "pr",
            "her2",
            "histology",
            "stage",
            "surgery_date",
            "surgery_site",
            "treatment_end_date",
            "prior_recurrence",
        ]

    def validate(self, attrs):
        surgery = attrs.get("surgery_date", getattr(self.instance, "surgery_date", None))
        treatment_end = attrs.get(
            "treatment_end_date", getattr(self.instance, "treatment_end_date", None)
        )
        if surgery and treatment_end and treatment_end < surgery:
            raise serializers.ValidationError(
                {"treatment_end_date": "Primary treatment cannot end before surgery."}
            )
        return attrs


@extend_schema_field({"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$", "example": "10:00"})
class HourMinuteField(serializers.TimeField):
    """A local time of day as HH:MM (seconds accepted on input, never shown)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


class CohortField(serializers.PrimaryKeyRelatedField):
    """Only the cohorts the requesting user belongs to can be chosen."""

    def get_queryset(self):
        return cohorts_for(self.context["request"].user)


class PatientSerializer(serializers.ModelSerializer):
    cohort = CohortField()
    profile = TumourProfileSerializer()
    phone = serializers.CharField(max_length=32, help_text="Mobile number; stored as E.164.")
    reminder_time = HourMinuteField(required=False)
    sms_consent_source = serializers.ChoiceField(
        choices=ConsentSource.choices, required=False, allow_blank=True
    )

    class Meta:
        model = Patient
        fields = [
            "id",
            "cohort",
            "first_name",
            "last_name",
            "date_of_birth",
            "mrn",
            "phone",
            "timezone",
            "language",
            "reminder_time",
            "sms_consent",
            "sms_consent_at",
            "sms_consent_source",
            "sms_opted_out_at",
            "phone_invalid_at",
            "phone_invalid_reason",
            "reminders_paused_until",
            "enrolled_on",
            "risk_tier",
            "is_active",
            "profile",
            "created_on",
            "modified_on",
        ]
        read_only_fields = [
            "sms_consent_at",
            "sms_opted_out_at",
            "phone_invalid_at",
            "phone_invalid_reason",
            "risk_tier",
            "created_on",
            "modified_on",
        ]
        # MRN uniqueness per site is checked in validate(): the site comes from the cohort.
        validators = []

    def validate_phone(self, value):
        return _django_validator(to_e164, value)

    def validate_timezone(self, value):
        _django_validator(validate_time_zone, value)
        return value

    def validate_date_of_birth(self, value):
        if value >= timezone.localdate():
            raise serializers.ValidationError("Date of birth must be in the past.")
        return value

    def validate(self, attrs):
        cohort = attrs.get("cohort", getattr(self.instance, "cohort", None))
        mrn = attrs.get("mrn", getattr(self.instance, "mrn", None))
        if self.mrn_taken(cohort.site, mrn):
            raise serializers.ValidationError({"mrn": MRN_TAKEN})
        self._validate_dates(attrs)
        return attrs

    def mrn_taken(self, site: str, mrn: str) -> bool:
        others = Patient.objects.filter(site=site, mrn=mrn)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        return others.exists()

    def _validate_dates(self, attrs):
        born = attrs.get("date_of_birth", getattr(self.instance, "date_of_birth", None))
        profile = attrs.get("profile", {})
        for name in ("surgery_date", "treatment_end_date"):
            if profile.get(name) and born and profile[name] <= born:
                raise serializers.ValidationError(
                    {"profile": {name: "This date is before the date of birth."}}
                )

    @staticmethod
    def _record_consent(patient: Patient, previous: bool, source: str) -> None:
        if patient.sms_consent and not previous:
            patient.sms_consent_at = timezone.now()
            patient.sms_consent_source = source or ConsentSource.STAFF
        elif not patient.sms_consent and previous:
            patient.sms_consent_at, patient.sms_consent_source = None, ""

    @transaction.atomic
    def create(self, validated_data):
        profile = TumourProfile(**validated_data.pop("profile"))
        source = validated_data.pop("sms_consent_source", "")
        patient = Patient(**validated_data)
        self._record_consent(patient, previous=False, source=source)
        try:
            with transaction.atomic():
                services.enrol([patient], [profile], by=self.context["request"].user)
        except IntegrityError as exc:
            # Another request enrolled the same MRN between validate() and here.
            raise serializers.ValidationError({"mrn": MRN_TAKEN}) from exc
        return patient

    @transaction.atomic
    def update(self, patient, validated_data):
        profile_data = validated_data.pop("profile", {})
        source = validated_data.pop("sms_consent_source", "")
        previous_consent = patient.sms_consent
        if validated_data.get("phone", patient.phone) != patient.phone:
            # A corrected number gets a fresh chance: SMS resume to it.
            patient.phone_invalid_at, patient.phone_invalid_reason = None, ""
        for name, value in validated_data.items():
            setattr(patient, name, value)
        self._record_consent(patient, previous=previous_consent, source=source)
        patient.save()
        for name, value in profile_data.items():
            setattr(patient.profile, name, value)
        patient.profile.save()
        services.reassess_and_replan([patient], by=self.context["request"].user)
        return patient


class RiskAssessmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskAssessment
        fields = ["tier", "reasons", "rule_version", "assessed_at", "assessed_by"]


class FlagSerializer(serializers.ModelSerializer):
    overdue = serializers.BooleanField(read_only=True)
    # Blank until resolved: said explicitly, or the schema would not allow "".
    outcome = serializers.ChoiceField(choices=Flag.Outcome.choices, allow_blank=True,
                                      read_only=True)

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
            "created_at",
        ]
        read_only_fields = fields


class ResolveFlagSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Flag.Outcome.choices)
    note = serializers.CharField(required=False, allow_blank=True)


class UrgentVisitSerializer(serializers.Serializer):
    booked_at = serializers.DateTimeField(
        required=False, help_text="Book it now, if known.", validators=[plausible_appointment]
    )
    location = serializers.CharField(required=False, allow_blank=True, max_length=200)


class PatientField(serializers.PrimaryKeyRelatedField):
    """Only patients of the requesting user's cohorts can be chosen."""

    def get_queryset(self):
        return patients_for(self.context["request"].user)


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

    def create(self, validated_data):
        answers = validated_data["answers"]
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
