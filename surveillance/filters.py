import django_filters
from django.db.models import Q
from django.utils import timezone

from cohorts.filters import cohort_filter, patient_filter

from .models import Flag, LesionReport


class FlagFilter(django_filters.FilterSet):
    patient = patient_filter()
    cohort = cohort_filter("patient__cohort")
    overdue = django_filters.BooleanFilter(method="filter_overdue")

    class Meta:
        model = Flag
        fields = ["patient", "cohort", "urgency", "status", "overdue"]

    def filter_overdue(self, queryset, name, value):
        overdue = Q(status__in=Flag.UNRESOLVED, review_due_at__lt=timezone.now())
        return queryset.filter(overdue) if value else queryset.exclude(overdue)


class LesionReportFilter(django_filters.FilterSet):
    patient = patient_filter()
    cohort = cohort_filter("patient__cohort")

    class Meta:
        model = LesionReport
        fields = ["patient", "cohort", "channel", "complete"]
