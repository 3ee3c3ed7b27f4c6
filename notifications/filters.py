import django_filters

from .models import Message


class MessageFilter(django_filters.FilterSet):
    cohort = django_filters.NumberFilter(field_name="patient__cohort")

    class Meta:
        model = Message
        fields = ["patient", "cohort", "status", "direction", "kind", "needs_review"]
