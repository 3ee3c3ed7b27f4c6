import operator
from functools import reduce

import django_filters

from bulk_sql.parts import in_parts
from cohorts.access import cohorts_for
from cohorts.filters import cohort_filter, patient_filter

from .models import Visit
from .overdue import overdue_parts


class VisitFilter(django_filters.FilterSet):
    patient = patient_filter()
    cohort = cohort_filter("cohort")
    due_date = django_filters.DateFromToRangeFilter()
    overdue = django_filters.BooleanFilter(method="filter_overdue")

    class Meta:
        model = Visit
        fields = ["patient", "cohort", "kind", "status", "due_date", "overdue"]

    def filter_queryset(self, queryset):
        """Every other filter, then `overdue`: its parts must hold all the others
        (`bulk_sql.parts.in_parts`)."""
        queryset = super().filter_queryset(queryset)
        wanted = self.form.cleaned_data.get("overdue")
        if wanted is None:
            return queryset
        parts = overdue_parts(cohorts_for(self.request.user) if self.request else [])
        if wanted:
            return in_parts(queryset, parts)
        return queryset.exclude(reduce(operator.or_, parts))

    def filter_overdue(self, queryset, name, value):
        """Applied last, by `filter_queryset`."""
        return queryset
