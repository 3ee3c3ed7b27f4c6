import django_filters
from django.db.models import Q

from cohorts.access import cohorts_for
from cohorts.filters import cohort_filter, patient_filter
from cohorts.site_days import per_zone

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
        # The window ended before the site's today, in each cohort's own zone.
        ended = per_zone(
            cohorts_for(self.request.user) if self.request else [],
            "patient__cohort__timezone",
            lambda today, _: Q(window_end__lt=today),
        )
        overdue = Q(status=Visit.Status.MISSED) | Q(
            ended, status__in=[Visit.Status.PLANNED, Visit.Status.BOOKED]
        )
        return queryset.filter(overdue) if value else queryset.exclude(overdue)
