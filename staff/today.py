"""The coordinator's home: the Today list, its live flags section, and its one-click actions.

Each action is a plain form POST (it works without JavaScript: the page
reloads), and with htmx it swaps its own row in place.
"""

import hashlib

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit import trail
from cohorts.access import cohorts_for
from cohorts.models import Patient
from cohorts.patient_messages import mark_reviewed, visible_messages

from . import worklist
from .access import message_patient_id, mine_or_404, staff_page
from .responses import back

REFRESH_SEEN = "staff-flags-refresh-audited"


def _rows(sections: list[worklist.Section]) -> list[tuple[int | None, str]]:
    return [
        (_patient_id(row), f"{section.key}:{row.pk}")
        for section in sections
        for row in section.rows
    ]


def _audited(request: HttpRequest, sections: list[worklist.Section]) -> None:
    """One audit row for the list shown: every row's patient and what it was."""
    trail.record_list(request, _rows(sections), "worklist", reason="Today list")


def _audited_if_changed(request: HttpRequest, section: worklist.Section) -> None:
    """The refresh shows the same flags every 30 s for hours: it writes an audit row when
    what it shows changed since this session's last one (the same rows shown again disclose
    nothing new, and would bury "who looked" on every patient's timeline)."""
    rows = _rows([section])
    shown = hashlib.sha256(repr(rows).encode()).hexdigest()
    if request.session.get(REFRESH_SEEN) != shown:
        trail.record_list(request, rows, "worklist", reason="Today list, refreshed")
        request.session[REFRESH_SEEN] = shown


def _patient_id(row) -> int | None:
    if isinstance(row, Patient):
        return row.pk
    about = getattr(row, "about", None)
    return about.pk if about is not None else getattr(row, "patient_id", None)


def chosen_cohorts(request: HttpRequest) -> list:
    """The user's cohorts, or the one `?cohort=` names (404 if it is not theirs)."""
    cohorts = list(cohorts_for(request.user).order_by("name"))
    wanted = request.GET.get("cohort", "")
    if not wanted:
        return cohorts
    chosen = [cohort for cohort in cohorts if str(cohort.pk) == wanted]
    if not chosen:
        raise Http404("No such cohort.")
    return chosen


@staff_page
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    cohorts = chosen_cohorts(request)
    now = timezone.now()
    sections = worklist.today(request.user, cohorts, now)
    _audited(request, sections)
    context = {
        "sections": sections,
        "cohorts": cohorts,
        "cohort_count": len(cohorts),
        "today": timezone.localdate(now),
        "refresh_seconds": settings.STAFF_REFRESH_SECONDS,
    }
    return render(request, "staff/today.html", context)


@staff_page
@require_GET
def today_flags(request: HttpRequest) -> HttpResponse:
    """The flags section alone: htmx polls it, so a new urgent flag shows without a reload."""
    section = worklist.section("flags", request.user, chosen_cohorts(request), timezone.now())
    _audited_if_changed(request, section)
    context = {"section": section, "refresh_seconds": settings.STAFF_REFRESH_SECONDS}
    return render(request, "staff/_section.html", context)


@staff_page
@require_POST
def review_message(request: HttpRequest, message_id: int) -> HttpResponse:
    """Mark a message read and dealt with (an inbox message, a failed SMS)."""
    message = mine_or_404(visible_messages(request.user), message_id, "message", message_patient_id)
    mark_reviewed(message, request.user)
    trail.record(request, trail.Action.UPDATE, message.subject_id, "message", message.pk)
    if request.htmx:
        return render(request, "staff/rows/done.html", {"text": "Marked reviewed."})
    return back(request, "staff:today")
