"""A patient's follow-up calendar as iCalendar (RFC 5545), for coordinators' calendars.

Booked visits are timed events; planned ones are all-day events on their due
date with the window in the description. Summaries say "Follow-up visit",
never a diagnosis, and name the patient only by the service's own number
(never the name or MRN): calendar apps sync to phones and are not private
either; the record behind the number needs a login.
"""

import json
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone
from icalendar import Calendar, Event
from rest_framework.renderers import BaseRenderer

from .models import Visit

SUMMARIES = {
    Visit.Kind.CLINIC: "Follow-up visit",
    Visit.Kind.IMAGING: "Imaging appointment",
    Visit.Kind.URGENT: "Urgent follow-up visit",
}
VISIT_LENGTH = timedelta(minutes=30)


def patient_calendar(patient, host: str) -> bytes:
    visits = patient.visits.exclude(status=Visit.Status.CANCELLED).order_by("due_date")
    return visits_calendar(visits, host, f"Follow-up, patient #{patient.pk}")


def visits_calendar(visits, host: str, name: str, days_to_book=()) -> bytes:
    """These visits (of any patients) as one calendar called `name`, and a day's count of
    visits still to book for each `DayToBook`."""
    calendar = Calendar()
    calendar.add("prodid", "-//Skin surveillance follow-up//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    for visit in visits:
        calendar.add_component(_event(visit, host))
    for day in days_to_book:
        calendar.add_component(_to_book(day, host))
    return calendar.to_ical()


@dataclass(frozen=True)
class DayToBook:
    """How many planned visits of one cohort fall due on one day, and where to book them."""

    cohort_id: int
    site: str
    day: date
    count: int
    url: str


def _to_book(day: DayToBook, host: str) -> Event:
    """One all-day event for a day's visits still to book: a count, no patient in it (a
    clinic's hundreds of unbooked visits as events of their own would drown its calendar)."""
    event = Event()
    event.add("uid", f"to-book-{day.cohort_id}-{day.day:%Y%m%d}@{host}")
    event.add("dtstamp", timezone.now())
    visits = "visit" if day.count == 1 else "visits"
    event.add("summary", f"{day.count} follow-up {visits} to book ({day.site})")
    event.add("status", "TENTATIVE")
    event.add("dtstart", day.day)
    event.add("dtend", day.day + timedelta(days=1))
    event.add("description", f"Due this day and not booked yet: {day.url}")
    event.add("url", day.url)
    return event


def _event(visit: Visit, host: str) -> Event:
    event = Event()
    event.add("uid", f"visit-{visit.pk}@{host}")
    event.add("dtstamp", timezone.now())
    event.add("summary", f"{SUMMARIES[visit.kind]} (#{visit.patient_id})")
    event.add("status", "CONFIRMED" if visit.status == Visit.Status.BOOKED else "TENTATIVE")
    if visit.status == Visit.Status.BOOKED and visit.booked_at:
        event.add("dtstart", visit.booked_at)
        event.add("dtend", visit.booked_at + VISIT_LENGTH)
        if visit.location:
            event.add("location", visit.location)
    else:
        event.add("dtstart", visit.due_date)
        event.add("dtend", visit.due_date + timedelta(days=1))
    event.add(
        "description",
        f"{visit.status}; window {visit.window_start} to {visit.window_end}",
    )
    return event


class ICalendarRenderer(BaseRenderer):
    """Lets clients ask for text/calendar; errors still come out as JSON text."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()
