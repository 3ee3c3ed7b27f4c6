"""Each user's calendar feed: a secret, revocable `.ics` address of their cohorts' visits.

Calendar apps cannot sign in, so the address is the credential: long,
random, stored only as a hash, revocable. The events name no diagnosis and
no MRN (`scheduling.calendar`); each read is audited as the feed's owner.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit import trail
from cohorts.access import cohorts_for
from scheduling.calendar import visits_calendar
from scheduling.models import Visit

from .access import is_staff_member, staff_page
from .models import CalendarFeed

BOOKED_SINCE = timedelta(days=30)
DUE_WITHIN = timedelta(days=28)
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


def _visits(user):
    """Booked visits (from a month ago on) and planned ones due within four weeks."""
    now = timezone.now()
    today = timezone.localdate(now)
    booked = Q(status=Visit.Status.BOOKED, booked_at__gte=now - BOOKED_SINCE)
    due = Q(status=Visit.Status.PLANNED, due_date__gte=today, due_date__lte=today + DUE_WITHIN)
    return Visit.objects.filter(booked | due, cohort__in=cohorts_for(user)).order_by(
        "due_date", "pk"
    )


@require_http_methods(["GET", "HEAD"])
def feed_ics(request: HttpRequest, token: str) -> HttpResponse:
    feed = CalendarFeed.find(token)
    if feed is None or not feed.user.is_active or not is_staff_member(feed.user):
        raise Http404("No such calendar.")
    visits = list(_visits(feed.user))
    body = visits_calendar(visits, request.get_host(), f"Follow-up visits ({feed.user})")
    CalendarFeed.objects.filter(pk=feed.pk).update(last_read_at=timezone.now())
    request.user = feed.user  # the audit row names whose feed was read
    trail.record_list(request, [(v.patient_id, v.pk) for v in visits], "visit", "calendar feed")
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response
