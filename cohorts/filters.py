import django_filters

from bulk_sql import parts
from notifications.models import Language, Message

from .access import cohorts_for, patients_for
from .models import Cohort, Patient


def _user_cohorts(request):
    return cohorts_for(request.user) if request is not None else Cohort.objects.none()


def _user_patients(request):
    return patients_for(request.user) if request is not None else Patient.objects.none()


def cohort_filter(field_name: str = "cohort", **options) -> django_filters.ModelChoiceFilter:
    """?cohort= among the user's cohorts only: another cohort's id is as unknown as a made-up one.

    Unscoped choices would also list every cohort in the browsable API's filter form.
    """
    return django_filters.ModelChoiceFilter(
        field_name=field_name, queryset=_user_cohorts, **options
    )


def patient_filter(field_name: str = "patient") -> django_filters.ModelChoiceFilter:
    """?patient= among the user's patients only (names never listed from other cohorts)."""
    return django_filters.ModelChoiceFilter(field_name=field_name, queryset=_user_patients)


class PatientFilter(django_filters.FilterSet):
    cohort = cohort_filter()

    class Meta:
        model = Patient
        fields = ["cohort", "risk_tier", "is_active"]

    language = django_filters.ChoiceFilter(field_name="contact__language", choices=Language.choices)
    sms_consent = django_filters.BooleanFilter(field_name="contact__sms_consent")


class FilterEachPart(django_filters.FilterSet):
    """Filters a list built in parts (`bulk_sql.parts.in_parts`) part by part too.

    The parts are read from `self.queryset`: the copy django-filter hands in
    (`.all()`) no longer has them.
    """

    def filter_queryset(self, queryset):
        return parts.filtered(self.queryset, super().filter_queryset)


class MessageFilter(FilterEachPart):
    patient = patient_filter()
    cohort = cohort_filter("patient__cohort")

    class Meta:
        model = Message
        fields = ["patient", "cohort", "status", "direction", "kind", "needs_review"]
