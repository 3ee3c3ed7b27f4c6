from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notifications.models import ConsentSource, Language
from notifications.phones import to_e164
from notifications.validators import validate_time_zone

from . import contacts, hooks, services, site_days
from .access import cohorts_for, patients_for
from .holiday_calendars import validate_subdivision
from .models import Cohort, Patient, RiskAssessment, TumourProfile

MRN_TAKEN = "This MRN is already enrolled at this site."
ERASED = "This patient's record was erased after their retention period: it can no longer change."


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
        fields = [
            "id",
            "name",
            "site",
            "timezone",
            "country",
            "subdivision",
            "contact_phone",
            "coordinators",
            "clinical_leads",
            "is_active",
            "created_on",
        ]
        read_only_fields = ["created_on"]

    def validate_timezone(self, value):
        _django_validator(validate_time_zone, value)
        return value

    def validate(self, attrs):
        country = attrs.get("country", getattr(self.instance, "country", ""))
        subdivision = attrs.get("subdivision", getattr(self.instance, "subdivision", ""))
        if country and subdivision:
            try:
                validate_subdivision(country, subdivision)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class TumourProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = TumourProfile
        fields = [
            "er",
            "pr",
            "her2",
            "histology",
            "stage",
            "diagnosis_date",
            "surgery_date",
            "surgery_site",
            "treatment_end_date",
            "prior_recurrence",
        ]

    def validate(self, attrs):
        def current(name):
            return attrs.get(name, getattr(self.instance, name, None))

        diagnosis, surgery = current("diagnosis_date"), current("surgery_date")
        treatment_end = current("treatment_end_date")
        if surgery and treatment_end and treatment_end < surgery:
            raise serializers.ValidationError(
                {"treatment_end_date": "Primary treatment cannot end before surgery."}
            )
        if diagnosis and any(day and day < diagnosis for day in (surgery, treatment_end)):
            raise serializers.ValidationError(
                {"diagnosis_date": "The diagnosis cannot come after surgery or treatment."}
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
    """A patient with their profile nested and their phone's details flat.

    Phone, zone, language, consent and opt-out belong to the phone's contact
    (shared by everyone who gives that number); they are read and written
    here, where API clients have always found them.
    """

    cohort = CohortField()
    profile = TumourProfileSerializer()
    phone = serializers.CharField(
        source="contact.number", max_length=32, help_text="Mobile number; stored as E.164."
    )
    timezone = serializers.CharField(
        source="contact.timezone",
        required=False,
        help_text="IANA zone; the cohort's zone when not given.",
    )
    language = serializers.ChoiceField(
        source="contact.language", choices=Language.choices, required=False
    )
    sms_consent = serializers.BooleanField(source="contact.sms_consent", required=False)
    sms_consent_at = serializers.DateTimeField(
        source="contact.sms_consent_at", read_only=True, allow_null=True
    )
    sms_consent_source = serializers.ChoiceField(
        source="contact.sms_consent_source",
        choices=ConsentSource.choices,
        required=False,
        allow_blank=True,
    )
    sms_opted_out_at = serializers.DateTimeField(
        source="contact.opted_out_at", read_only=True, allow_null=True
    )
    phone_invalid_at = serializers.DateTimeField(
        source="contact.invalid_at", read_only=True, allow_null=True
    )
    phone_invalid_reason = serializers.CharField(source="contact.invalid_reason", read_only=True)
    reminder_time = HourMinuteField(required=False)
    # Blank while the patient is followed up.
    withdrawal_reason = serializers.ChoiceField(
        choices=Patient.WithdrawalReason.choices, allow_blank=True, read_only=True
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
            "withdrawn_on",
            "withdrawal_reason",
            "erased_at",
            "profile",
            "created_on",
            "modified_on",
        ]
        # Withdrawal is recorded by `POST .../withdraw/` (or by setting is_active false).
        read_only_fields = [
            "risk_tier",
            "withdrawn_on",
            "withdrawal_reason",
            "erased_at",
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

    def validate(self, attrs):
        if getattr(self.instance, "erased_at", None) is not None:
            raise serializers.ValidationError(ERASED)
        cohort = attrs.get("cohort", getattr(self.instance, "cohort", None))
        mrn = attrs.get("mrn", getattr(self.instance, "mrn", None))
        if self.mrn_taken(cohort.site, mrn):
            raise serializers.ValidationError({"mrn": MRN_TAKEN})
        self._validate_dates(attrs)
        self._validate_follow_up(attrs, cohort)
        return attrs

    def _validate_follow_up(self, attrs, cohort):
        """A new treatment end (or a new patient) must leave something to follow up."""
        treatment_end = attrs.get("profile", {}).get("treatment_end_date")
        current = getattr(getattr(self.instance, "profile", None), "treatment_end_date", None)
        if treatment_end is None or treatment_end == current:
            return
        limit = self.follow_up_limit(cohort)
        if limit is not None and treatment_end < limit.earliest_treatment_end:
            raise serializers.ValidationError({"profile": {"treatment_end_date": [limit.reason]}})

    def follow_up_limit(self, cohort: Cohort) -> hooks.FollowUpLimit | None:
        return hooks.follow_up_limit(cohort)

    def mrn_taken(self, site: str, mrn: str) -> bool:
        others = Patient.objects.filter(site=site, mrn=mrn)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        return others.exists()

    def _validate_dates(self, attrs):
        born = attrs.get("date_of_birth", getattr(self.instance, "date_of_birth", None))
        profile = attrs.get("profile", {})
        for name in ("diagnosis_date", "surgery_date", "treatment_end_date"):
            if profile.get(name) and born and profile[name] <= born:
                raise serializers.ValidationError(
                    {"profile": {name: "This date is before the date of birth."}}
                )

    @staticmethod
    def split(validated_data: dict, source: str = "") -> tuple[dict, dict, str]:
        """(patient fields, contact details, consent source) from validated data."""
        data = dict(validated_data)
        details = data.pop("contact", {})
        source = details.pop("sms_consent_source", "") or source
        return data, details, source

    @staticmethod
    def new_patient(data: dict) -> Patient:
        """A patient of these fields, enrolled on their site's today unless a date is given
        (the server's date is already tomorrow for an evening enrolment west of it)."""
        data.setdefault("enrolled_on", site_days.today(data["cohort"]))
        return Patient(**data)

    @transaction.atomic
    def create(self, validated_data):
        data, details, source = self.split(validated_data)
        profile = TumourProfile(**data.pop("profile"))
        patient = self.new_patient(data)
        contacts.bind([patient], [details], source, default_timezone=patient.cohort.timezone)
        try:
            with transaction.atomic():
                services.enrol([patient], [profile], by=self.context["request"].user)
        except IntegrityError as exc:
            # Another request enrolled the same MRN between validate() and here.
            raise serializers.ValidationError({"mrn": MRN_TAKEN}) from exc
        return patient

    @transaction.atomic
    def update(self, patient, validated_data):
        data, details, source = self.split(validated_data)
        profile_data = data.pop("profile", {})
        details.setdefault("number", patient.contact.number)
        contacts.bind([patient], [details], source, default_timezone=patient.timezone)
        for name, value in data.items():
            setattr(patient, name, value)
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


@extend_schema_field(OpenApiTypes.INT)
class PatientField(serializers.PrimaryKeyRelatedField):
    """Only patients of the requesting user's cohorts can be chosen (a patient id)."""

    def get_queryset(self):
        return patients_for(self.context["request"].user)
