"""Each user's calendar feed: a secret, revocable `.ics` address of their cohorts' visits.

Calendar apps cannot sign in, so the address is the credential: long,
random, stored only as a hash, revocable. The events name no diagnosis and
no MRN (`scheduling.calendar`); each read is audited as the feed's owner. The
visits still to book come as a count a day per cohort, naming no patient.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit import trail
from cohorts.access import cohorts_for
from scheduling.calendar import DayToBook, visits_calendar
from scheduling.models import Visit

from .access import is_staff_member, staff_page
from .models import CalendarFeed

# What a feed holds: the appointments from a week ago to four weeks ahead, and each day's
# count of visits still to book for those four weeks. Three sites with 30,000 patients book
# about 1,000 visits a week, and a calendar app fetches the whole feed every few hours.
BOOKED_SINCE = timedelta(days=7)
AHEAD = timedelta(days=28)
EVENT_FIELDS = ("patient", "kind", "status", "booked_at", "location", "due_date")
EVENT_FIELDS += ("window_start", "window_end")
NEW_ADDRESS = "staff-new-feed-address"


@staff_page
@require_GET
def feed_page(request: HttpRequest) -> HttpResponse:
    context = {
        "feed": CalendarFeed.objects.live().filter(user=request.user).first(),
        "address": request.session.pop(NEW_ADDRESS, ""),
    }
    return render(request, "staff/feed.html", context)


@staff_page
@require_POST
def make_feed(request: HttpRequest) -> HttpResponse:
    """A new secret address (the old one, if any, stops working)."""
    with transaction.atomic():
        _, token = CalendarFeed.make(request.user)
    path = reverse("staff:feed-ics", kwargs={"token": token})
    request.session[NEW_ADDRESS] = request.build_absolute_uri(path)
    return redirect("staff:feed")


@staff_page
@require_POST
def revoke_feed(request: HttpRequest) -> HttpResponse:
    CalendarFeed.objects.live().filter(user=request.user).update(revoked_at=timezone.now())
    return redirect("staff:feed")


def _booked(cohorts, now) -> QuerySet:
    """Booked visits from a week ago to four weeks ahead, by time (`visit_booked_at`)."""
    return (
        Visit.objects.filter(
            cohort__in=cohorts,
            status=Visit.Status.BOOKED,
            booked_at__gte=now - BOOKED_SINCE,
            booked_at__lt=now + AHEAD,
        )
        .only(*EVENT_FIELDS)
        .order_by("booked_at", "pk")
    )


def _days_to_book(request: HttpRequest, cohorts, now) -> list[DayToBook]:
    """Per cohort and day of the next four weeks, how many planned visits fall due (counted
    from `visit_planned_due` alone)."""
    today = timezone.localdate(now)
    due = (
        Visit.objects.filter(
            cohort__in=cohorts,
            status=Visit.Status.PLANNED,
            due_date__gte=today,
            due_date__lte=today + AHEAD,
        )
        .order_by("due_date", "cohort")
        .values_list("cohort", "due_date")
        .annotate(n=Count("cohort"))
    )
    sites = {cohort.pk: cohort.site for cohort in cohorts}
    return [
        DayToBook(cohort, sites[cohort], day, n, _day_page(request, cohort, day))
        for cohort, day, n in due
    ]


def _day_page(request: HttpRequest, cohort_id: int, day) -> str:
    path = reverse("staff:calendar-day", kwargs={"day": day.isoformat()})
    return request.build_absolute_uri(f"{path}?cohort={cohort_id}")


@gzip_page
@require_http_methods(["GET", "HEAD"])
def feed_ics(request: HttpRequest, token: str) -> HttpResponse:
    feed = CalendarFeed.find(token)
    if feed is None or not feed.user.is_active or not is_staff_member(feed.user):
        raise Http404("No such calendar.")
    now, cohorts = timezone.now(), list(cohorts_for(feed.user))
    visits = list(_booked(cohorts, now))
    days = _days_to_book(request, cohorts, now)
    body = visits_calendar(visits, request.get_host(), f"Follow-up visits ({feed.user})", days)
    CalendarFeed.objects.filter(pk=feed.pk).update(last_read_at=timezone.now())
    request.user = feed.user  # the audit row names whose feed was read
    trail.record_list(request, [(v.patient_id, v.pk) for v in visits], "visit", "calendar feed")
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response
