import django_filters

from surveillance.filters import cohort_filter, patient_filter

from .models import Message


class MessageFilter(django_filters.FilterSet):
    patient = patient_filter()
    cohort = cohort_filter("patient__cohort")

    class Meta:
        model = Message
        fields = ["patient", "cohort", "status", "direction", "kind", "needs_review"]
