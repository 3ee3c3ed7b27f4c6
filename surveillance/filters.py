import django_filters
from django.db.models import Q
from django.utils import timezone

from cohorts.filters import FilterEachPart, cohort_filter, patient_filter
from cohorts.models import Cohort

from .care_teams import in_cohorts
from .models import Flag, LesionReport


class FlagFilter(FilterEachPart):
    patient = patient_filter()
    cohort = cohort_filter(method="filter_cohort")
    overdue = django_filters.BooleanFilter(method="filter_overdue")
    unassigned = django_filters.BooleanFilter(
        field_name="patient",
        lookup_expr="isnull",
        help_text="Raised on a shared phone and waiting for a coordinator to say whose it is.",
    )

    class Meta:
        model = Flag
        fields = ["patient", "cohort", "urgency", "status", "overdue", "unassigned"]

    def filter_cohort(self, queryset, name, value: Cohort):
        """The cohort's patients' flags, and those waiting on a phone one of them uses."""
        return queryset.filter(in_cohorts([value])) if value else queryset

    def filter_overdue(self, queryset, name, value):
        overdue = Q(status__in=Flag.UNRESOLVED, review_due_at__lt=timezone.now())
        return queryset.filter(overdue) if value else queryset.exclude(overdue)


class LesionReportFilter(django_filters.FilterSet):
    patient = patient_filter()
    cohort = cohort_filter("patient__cohort")

    class Meta:
        model = LesionReport
        fields = ["patient", "cohort", "channel", "complete"]
