"""The flag page: one report to review, with everything needed to decide, and the steps.

Acknowledge (coordinators and clinical leads), resolve with an outcome (the
cohort's clinical leads and admins; a withdrawn patient's flag, anyone on the
care team closes as "patient withdrawn"), book an urgent visit in one click, and,
for a flag raised on a phone several patients share, say whose it is. The
steps are the API's own services and serializers, so the rules are the same.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit import trail
from cohorts.access import can_resolve, cohorts_for
from cohorts.patient_messages import assign_to
from surveillance import care_teams, lesions
from surveillance.care_teams import in_cohorts
from surveillance.models import Flag, LesionReport, Questionnaire
from surveillance.serializers import ResolveFlagSerializer, UrgentVisitSerializer
from surveillance.web_reports import answer_rows

from .access import mine_or_404, staff_page
from .posted import first_error, with_site_times
from .responses import refused

EARLIER_REPORTS = 5


def _flag(request: HttpRequest, flag_id: int) -> Flag:
    mine = in_cohorts(cohorts_for(request.user))
    return mine_or_404(
        Flag.objects.filter(mine).select_related(
            "patient__cohort", "patient__contact", "report", "message", "urgent_visit"
        ),
        flag_id,
        "flag",
    )


def _earlier(flag: Flag) -> list[LesionReport]:
    if flag.patient_id is None:
        return []
    return list(
        LesionReport.objects.filter(patient_id=flag.patient_id, created_at__lt=flag.created_at)
        .select_related("flag")
        .prefetch_related(Prefetch("photos"))
        .order_by("-created_at")[:EARLIER_REPORTS]
    )


@staff_page
@require_GET
def flag_page(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = _flag(request, flag_id)
    patient, report = flag.patient, flag.report
    earlier = _earlier(flag)
    context = {
        "flag": flag,
        "patient": patient,
        "zone": care_teams.zone(flag),
        "assessment": patient.latest_assessment if patient else None,
        "answers": answer_rows(report) if report else [],
        "photos": list(report.photos.order_by("pk")) if report else [],
        "earlier": [(each, answer_rows(each)) for each in earlier],
        "asking": report
        and Questionnaire.objects.filter(report=report, closed_at__isnull=True).exists(),
        "candidates": list(care_teams.candidates(flag, request.user)),
        "outcomes": [
            (outcome, Flag.Outcome(outcome).label)
            for outcome in lesions.outcomes_for(request.user, flag)
        ],
        "error": request.GET.get("error", ""),
        # Its urgent visit still to come; once cancelled, missed or done, another may be booked.
        "urgent_to_come": flag.urgent_visit and flag.urgent_visit.status in lesions.TO_COME,
    }
    response = render(request, "staff/flag.html", context)
    patient_ids = [patient.pk] if patient else [c.pk for c in context["candidates"]]
    trail.record(request, trail.Action.VIEW, patient_ids or None, "flag", flag.pk)
    return response


def _step(request: HttpRequest, flag: Flag, step) -> HttpResponse:
    try:
        step()
    except lesions.FlagStateError as exc:
        return refused(request, str(exc), status=409)
    trail.record(request, trail.Action.UPDATE, flag.patient_id, "flag", flag.pk)
    if request.htmx and request.POST.get("from") == "today":
        flag.refresh_from_db()
        return render(request, "staff/rows/flags.html", {"row": flag})
    return redirect("staff:flag", flag_id=flag.pk)


@staff_page
@require_POST
def acknowledge(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = _flag(request, flag_id)
    return _step(request, flag, lambda: lesions.acknowledge(flag, request.user))


@staff_page
@require_POST
def resolve(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = _flag(request, flag_id)
    if flag.patient_id is None:
        return refused(request, lesions.UNASSIGNED, status=409)
    outcome = request.POST.get("outcome")
    if not (
        can_resolve(request.user, flag.patient.cohort)
        or outcome in lesions.outcomes_for(request.user, flag)
    ):
        raise PermissionDenied("Only the cohort's clinical leads resolve flags.")
    payload = ResolveFlagSerializer(data=request.POST)
    if not payload.is_valid():
        return refused(request, first_error(payload.errors))
    data = payload.validated_data
    return _step(
        request,
        flag,
        lambda: lesions.resolve(flag, data["outcome"], request.user, data.get("note", "")),
    )


@staff_page
@require_POST
def urgent_visit(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = _flag(request, flag_id)
    zone = care_teams.zone(flag)
    payload = UrgentVisitSerializer(data=with_site_times(request.POST, zone, "booked_at"))
    if not payload.is_valid():
        return refused(request, first_error(payload.errors))
    return _step(
        request,
        flag,
        lambda: lesions.add_urgent_visit(flag, request.user, **payload.validated_data),
    )


@staff_page
@require_POST
def assign(request: HttpRequest, flag_id: int) -> HttpResponse:
    """Say whose report a flag from a shared phone is: one of the phone's patients."""
    flag = _flag(request, flag_id)
    if flag.patient_id is not None:
        return refused(request, "This flag already has a patient.", status=409)
    among = care_teams.candidates(flag, request.user)
    patient = among.filter(pk=request.POST.get("patient")).first()
    if patient is None:
        return refused(request, "Choose one of the patients who used this phone.")
    try:
        assign_to(flag.message, patient, request.user)
    except ValueError as exc:
        return refused(request, str(exc), status=409)
    trail.record(request, trail.Action.UPDATE, patient, "flag", flag.pk)
    return redirect("staff:flag", flag_id=flag.pk)
