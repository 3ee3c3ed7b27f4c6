"""The follow-up calendar: a week or a month of the user's cohorts' visits.

Each day shows its booked appointments and the planned visits due that day
(overdue ones marked), filtered by cohort, tier and visit kind. A day opens
as its own page, where a day's clinic is booked in one go (consecutive
slots); each visit is booked, rebooked, completed or marked missed from
there with the API's rules.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Case, Count, DateField, F, Q, When, Window
from django.db.models.functions import RowNumber, TruncDate
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit import trail
from cohorts import risk
from cohorts.access import cohorts_for
from scheduling.models import Visit
from scheduling.serializers import BookVisitSerializer

from .access import staff_page
from .posted import first_error
from .responses import refused
from .today import chosen_cohorts

SHOWN_PER_DAY = 8
DAY_PAGE_ROWS = 500  # a day's clinic: everything booked that day
SLOT_MINUTES = (10, 15, 20, 30, 45, 60)


@dataclass
class Day:
    day: date
    booked: list = field(default_factory=list)
    due: list = field(default_factory=list)
    due_total: int = 0
    booked_total: int = 0
    in_window: int = 0
    shade: int = 0
    in_month: bool = True

    @property
    def more(self) -> int:
        return self.due_total - len(self.due)

    @property
    def more_booked(self) -> int:
        return self.booked_total - len(self.booked)


@dataclass
class Span:
    """The days shown: a week, or the six weeks around a month."""

    view: str
    first: date
    days: int
    month: date | None
    previous: date
    next: date


def _span(request: HttpRequest) -> Span:
    try:
        asked = date.fromisoformat(request.GET.get("start", ""))
    except ValueError:
        asked = timezone.localdate()
    if request.GET.get("view") == "month":
        month = asked.replace(day=1)
        first = month - timedelta(days=month.weekday())
        following = (month + timedelta(days=32)).replace(day=1)
        previous = (month - timedelta(days=1)).replace(day=1)
        return Span("month", first, 42, month, previous, following)
    first = asked - timedelta(days=asked.weekday())
    return Span("week", first, 7, None, first - timedelta(days=7), first + timedelta(days=7))


def _filters(request: HttpRequest) -> Q:
    wanted = Q()
    if request.GET.get("tier") in {tier.value for tier in risk.Tier}:
        wanted &= Q(patient__risk_tier=request.GET["tier"])
    if request.GET.get("kind") in Visit.Kind.values:
        wanted &= Q(kind=request.GET["kind"])
    return wanted


def _days(cohorts, span: Span, wanted: Q, cap: int = SHOWN_PER_DAY) -> list[Day]:
    """Each day's booked visits (on the site's own date) and planned visits due: their
    counts, and in a week (or a day) the first `cap` of each."""
    dates = [span.first + timedelta(days=n) for n in range(span.days)]
    days = {day: Day(day, in_month=span.month is None or day.month == span.month.month)
            for day in dates}  # fmt: skip
    mine = Visit.objects.filter(wanted, cohort__in=cohorts)
    due = mine.filter(status=Visit.Status.PLANNED, due_date__gte=dates[0], due_date__lte=dates[-1])
    # The cohort column counted, not the id: `visit_planned_due` holds it, so a month's
    # counts are read from the index alone.
    for day, total in due.order_by().values_list("due_date").annotate(n=Count("cohort")):
        days[day].due_total = total
    booked_per_day, shown_booked = _booked(mine, cohorts, dates, 0 if span.view == "month" else cap)
    for day, total in booked_per_day.items():
        days[day].booked_total = total
    _shade(days, _open_windows(mine.filter(status=Visit.Status.PLANNED), dates))
    if span.view == "month":  # a month shows how many; a week and a day's page show who
        return list(days.values())
    first_of_each_day = Window(
        RowNumber(), partition_by=F("due_date"), order_by=[F("window_end"), F("pk")]
    )
    # The ids first: joining the patients before the window's filter would join every
    # visit due that week (thousands, in a large clinic) to show a few a day.
    shown_due = list(
        due.annotate(place=first_of_each_day)
        .filter(place__lte=cap)
        .order_by("due_date", "place")
        .values_list("due_date", "pk")
    )
    rows = Visit.objects.select_related("patient__cohort").in_bulk(
        [pk for _, pk in shown_booked + shown_due]
    )
    for day, pk in shown_booked:
        days[day].booked.append(rows[pk])
    for day, pk in shown_due:
        days[day].due.append(rows[pk])
    return list(days.values())


def _open_windows(planned, dates: list[date]) -> dict[date, int]:
    """How many planned visits' windows are open on each day (the calendar's shading).

    A window open on a shown day starts on or before the last and ends on or after the
    first, so it starts no earlier than the widest window before the first: one range of
    the `visit_planned_window_start` index (planned visits only, their window's end
    included), read as counts per distinct window and summed per day."""
    first, last = dates[0], dates[-1]
    windows = (
        planned.filter(
            window_start__gte=first - Visit.widest_window(),
            window_start__lte=last,
            window_end__gte=first,
        )
        .order_by()
        .values_list("window_start", "window_end")
        .annotate(n=Count("cohort"))
    )
    change = defaultdict(int)
    for start, end, n in windows:
        change[max(start, first)] += n
        change[min(end, last) + timedelta(days=1)] -= n
    open_on, running = {}, 0
    for day in dates:
        running += change[day]
        open_on[day] = running
    return open_on


def _shade(days: dict[date, Day], open_on: dict[date, int]) -> None:
    """Each day's share of the busiest shown day's open windows, in three steps."""
    busiest = max(open_on.values(), default=0)
    for day, count in open_on.items():
        days[day].in_window = count
        days[day].shade = -(-3 * count // busiest) if busiest else 0


def _booked(visits, cohorts, dates: list[date], cap: int) -> tuple[dict, list[tuple]]:
    """How many visits are booked on each of these days (each site's own date), and (day,
    visit id) of each day's first `cap` by booked time (none with `cap` 0).

    One query, counted and cut per day in the database: a busy week has thousands of
    bookings, and loading them all to show eight a day cost more than the rest of the
    page. It reads the `visit_booked_at` index from the earliest site's first midnight
    to the latest site's last, and dates each visit in its own site's zone."""
    in_zone = defaultdict(list)
    for cohort in cohorts:
        in_zone[ZoneInfo(cohort.timezone)].append(cohort.pk)
    after = dates[-1] + timedelta(days=1)
    site_day = Case(
        *(
            When(cohort_id__in=ids, then=TruncDate("booked_at", tzinfo=tz))
            for tz, ids in in_zone.items()
        ),
        output_field=DateField(),
    )
    booked = (
        visits.filter(
            status=Visit.Status.BOOKED,
            booked_at__gte=min(datetime.combine(dates[0], time.min, tz) for tz in in_zone),
            booked_at__lt=max(datetime.combine(after, time.min, tz) for tz in in_zone),
        )
        .order_by()  # no model order: the index alone answers
        .annotate(day=site_day)
    )  # a site whose zone is not the widest also gives a day before or after: left out below
    if not cap:
        counted = booked.values_list("day").annotate(n=Count("cohort"))
        return {day: n for day, n in counted if dates[0] <= day <= dates[-1]}, []
    by_day = {"partition_by": F("day")}
    rows = (
        booked.annotate(
            place=Window(RowNumber(), order_by=[F("booked_at"), F("pk")], **by_day),
            total=Window(Count("cohort"), **by_day),
        )
        .filter(place__lte=cap)
        .values_list("day", "pk", "total")
    )
    totals, first = {}, []
    for day, pk, total in rows:
        if not dates[0] <= day <= dates[-1]:
            continue
        totals[day] = total
        first.append((day, pk))
    return totals, first


def _audited(request: HttpRequest, visits: list[Visit], reason: str) -> None:
    trail.record_list(request, [(v.patient_id, v.pk) for v in visits], "visit", reason=reason)


@staff_page
@require_GET
def calendar(request: HttpRequest) -> HttpResponse:
    cohorts = chosen_cohorts(request)
    span = _span(request)
    days = _days(cohorts, span, _filters(request)) if cohorts else []
    context = {
        "span": span,
        "weeks": [days[n : n + 7] for n in range(0, len(days), 7)],
        "today": timezone.localdate(),
        "cohorts": list(cohorts_for(request.user).order_by("name")),
        "tiers": [tier.value for tier in risk.Tier],
        "kinds": Visit.Kind.choices,
        "filters": {key: request.GET.get(key, "") for key in ("cohort", "tier", "kind")},
    }
    response = render(request, "staff/calendar.html", context)
    _audited(request, [v for day in days for v in (*day.booked, *day.due)], "calendar")
    return response


@staff_page
@require_GET
def day_page(request: HttpRequest, day: str) -> HttpResponse:
    """One day: every visit booked or due, and the form to book the day's clinic."""
    try:
        shown = date.fromisoformat(day)
    except ValueError as exc:
        raise Http404("No such day.") from exc
    cohorts = chosen_cohorts(request)
    (found,) = (
        _days(cohorts, Span("week", shown, 1, None, shown, shown), Q(), DAY_PAGE_ROWS)
        if cohorts
        else [Day(shown)]
    )
    due = list(
        Visit.objects.filter(cohort__in=cohorts, status=Visit.Status.PLANNED, due_date=shown)
        .select_related("patient__cohort")
        .order_by("patient__last_name", "pk")
    )
    context = {"day": found, "due": due, "slots": SLOT_MINUTES, "today": timezone.localdate()}
    response = render(request, "staff/day.html", context)
    _audited(request, [*found.booked, *due], "calendar day")
    return response


@staff_page
@require_POST
def book_day(request: HttpRequest, day: str) -> HttpResponse:
    """Book the ticked visits due that day one after another, from a start time, in slots."""
    try:
        shown = date.fromisoformat(day)
        first = time.fromisoformat(request.POST.get("first", ""))
        minutes = int(request.POST.get("minutes", ""))
    except ValueError:
        return refused(request, "Give the clinic's first appointment time and a slot length.")
    if minutes not in SLOT_MINUTES:
        return refused(request, "Choose one of the slot lengths offered.")
    ids = [int(value) for value in request.POST.getlist("visit") if value.isdigit()]
    chosen = list(
        Visit.objects.filter(
            cohort__in=cohorts_for(request.user), pk__in=ids, status=Visit.Status.PLANNED
        )
        .select_related("patient__cohort")
        .order_by("patient__last_name", "pk")
    )
    if not chosen:
        return refused(request, "Tick the visits to book.")
    with transaction.atomic():
        for n, visit in enumerate(chosen):
            zone = ZoneInfo(visit.patient.cohort.timezone)
            at = datetime.combine(shown, first, tzinfo=zone) + timedelta(minutes=n * minutes)
            payload = BookVisitSerializer(data={"booked_at": at.isoformat()})
            if not payload.is_valid():
                transaction.set_rollback(True)
                return refused(request, first_error(payload.errors))
            visit.book(payload.validated_data["booked_at"], "", by=request.user)
    trail.record_rows(request, trail.Action.UPDATE, [(v.patient_id, v.pk) for v in chosen], "visit")
    return redirect("staff:calendar-day", day=shown.isoformat())
