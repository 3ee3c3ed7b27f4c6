import django_filters

from cohorts.access import cohorts_for
from cohorts.filters import cohort_filter, patient_filter

from .models import Visit
from .overdue import overdue as visits_overdue


class VisitFilter(django_filters.FilterSet):
    patient = patient_filter()
    cohort = cohort_filter("cohort")
    due_date = django_filters.DateFromToRangeFilter()
    overdue = django_filters.BooleanFilter(method="filter_overdue")

    class Meta:
        model = Visit
        fields = ["patient", "cohort", "kind", "status", "due_date", "overdue"]

    def filter_overdue(self, queryset, name, value):
        overdue = visits_overdue(cohorts_for(self.request.user) if self.request else [])
        return queryset.filter(overdue) if value else queryset.exclude(overdue)
