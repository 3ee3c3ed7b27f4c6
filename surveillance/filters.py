import django_filters

from .models import Patient


class PatientFilter(django_filters.FilterSet):
    class Meta:
        model = Patient
        fields = ["cohort", "risk_tier", "language", "sms_consent", "is_active"]
