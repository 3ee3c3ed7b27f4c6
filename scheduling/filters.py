import django_filters
from django.db.models import Q
from django.utils import timezone

from cohorts.filters import cohort_filter, patient_filter

from .models import Visit


class VisitFilter(django_filters.FilterSet):
    patient = patient_filter()
    cohort = cohort_filter("patient__cohort")
    due_date = django_filters.DateFromToRangeFilter()
    overdue = django_filters.BooleanFilter(method="filter_overdue")

    class Meta:
        model = Visit
        fields = ["patient", "cohort", "kind", "status", "due_date", "overdue"]

    def filter_overdue(self, queryset, name, value):
        overdue = Q(status=Visit.Status.MISSED) | Q(
            status__in=[Visit.Status.PLANNED, Visit.Status.BOOKED],
            window_end__lt=timezone.localdate(),
        )
        return queryset.filter(overdue) if value else queryset.exclude(overdue)
