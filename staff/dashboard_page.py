"""The admins' home: the dashboard's figures per cohort and per coordinator, each linking to
its list, and the weekly trends."""

from collections import defaultdict

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from cohorts.access import cohorts_for
from cohorts.models import Cohort
from notifications import circuit
from surveillance.dashboard import kept_figures, totals

from . import trends
from .access import staff_page

# The dashboard's columns: (title, the figures summed, the Today section they link to)
COLUMNS = [
    ("Flags overdue", ["flags_overdue"], "flags"),
    ("Urgent flags open", ["flags_urgent_open"], "flags"),
    ("Flags open", ["flags_open"], "flags"),
    ("Questionnaires open", ["questionnaires_open"], "questionnaires"),
    ("Visits overdue", ["visits_overdue"], "visits"),
    ("Visits due in 2 weeks", ["visits_due_soon"], "visits"),
    ("SMS not delivered", ["messages_failed", "messages_undeliverable", "messages_expired"],
     "failed"),
    ("Messages to review", ["messages_to_review"], "inbox"),
    ("Patients", ["patients"], ""),
    ("Opted out", ["patients_opted_out"], ""),
    ("Bad numbers", ["patients_phone_invalid"], ""),
    ("Paused", ["patients_paused"], ""),
]  # fmt: skip


def _cells(row: dict) -> list[tuple[int, str]]:
    return [(sum(row[name] for name in names), section) for _, names, section in COLUMNS]


def _per_coordinator(rows: list[dict]) -> list[tuple[str, list]]:
    """Each coordinator's cohorts' figures, summed (one query for who coordinates what)."""
    by_cohort = {row["cohort"]: row for row in rows}
    theirs = defaultdict(list)
    links = Cohort.coordinators.through.objects.filter(cohort_id__in=by_cohort)
    for cohort_id, username in links.values_list("cohort_id", "user__username"):
        theirs[username].append(by_cohort[cohort_id])
    return [(name, _cells(totals(cohort_rows))) for name, cohort_rows in sorted(theirs.items())]


@staff_page
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    cohorts = list(cohorts_for(request.user).order_by("name"))
    # Counted at most a minute ago (surveillance.dashboard); `?fresh=1` counts again now.
    rows, counted_at = kept_figures(cohorts, fresh=bool(request.GET.get("fresh")))
    context = {
        "columns": [title for title, _, _ in COLUMNS],
        "rows": [(row, _cells(row)) for row in rows],
        "total": _cells(totals(rows)) if rows else [],
        "coordinators": _per_coordinator(rows),
        "charts": trends.charts(cohorts, now),
        "sms_provider": circuit.status(),
        "generated_at": counted_at,
    }
    return render(request, "staff/dashboard.html", context)  # counts only: no patient shown
