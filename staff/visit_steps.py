"""A visit's steps from the staff pages: book (or rebook), complete, mark missed.

The API's serializers validate what is posted (an appointment time is read in
the site's own zone) and the visit's own transitions decide what may happen;
from Today the row answers in place (htmx), from the calendar the page comes
back.
"""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from audit import trail
from cohorts.access import cohorts_for
from scheduling.models import InvalidTransition, Visit
from scheduling.serializers import BookVisitSerializer, VisitNoteSerializer

from .access import mine_or_404, staff_page
from .posted import first_error, with_site_times
from .responses import back, refused

DONE = {"book": "Booked", "complete": "Marked done", "miss": "Marked missed"}


def _payload(step: str, request: HttpRequest, zone: str):
    if step == "book":
        return BookVisitSerializer(data=with_site_times(request.POST, zone, "booked_at"))
    if step in ("complete", "miss"):
        return VisitNoteSerializer(data=request.POST)
    raise Http404("No such step.")


def _move(visit: Visit, step: str, data: dict, by) -> None:
    if step == "book":
        visit.book(data["booked_at"], data.get("location", ""), by=by)
    else:
        getattr(visit, step)(by=by, **data)


@staff_page
@require_POST
def visit_step(request: HttpRequest, visit_id: int, step: str) -> HttpResponse:
    mine = Visit.objects.filter(cohort__in=cohorts_for(request.user))
    visit = mine_or_404(mine.select_related("patient__cohort"), visit_id, "visit")
    payload = _payload(step, request, visit.patient.cohort.timezone)
    if not payload.is_valid():
        return refused(request, first_error(payload.errors))
    try:
        _move(visit, step, payload.validated_data, request.user)
    except InvalidTransition as exc:
        return refused(request, str(exc), status=409)
    trail.record(request, trail.Action.UPDATE, visit.patient_id, "visit", visit.pk)
    text = f"{DONE[step]} for {visit.patient.first_name} {visit.patient.last_name}."
    if request.htmx:
        return render(request, "staff/rows/done.html", {"text": text})
    messages.success(request, text)
    return back(request, "staff:today")
