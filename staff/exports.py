"""CSV exports of the staff lists: every row (not only the page's first ones), audited.

A cell that a spreadsheet would run as a formula (it starts with =, +, -, @,
a tab or a carriage return: patients' own words can) is prefixed with an
apostrophe, so opening the file runs nothing.
"""

import csv
from collections.abc import Iterator

from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit import trail

from . import worklist
from .access import staff_page
from .today import chosen_cohorts

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Where each list's rows name their patient (the audit row of the export lists them).
WHOSE = {"inbox": "subject_id", "failed": "subject_id", "silent": "pk"}
CHUNK = 500


def _safe(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _name(patient) -> list:
    return [patient.first_name, patient.last_name, patient.mrn] if patient else ["", "", ""]


PATIENT = ["first name", "last name", "MRN"]
COLUMNS = {
    "flags": ["flag", *PATIENT, "urgency", "status", "review due (UTC)", "reasons"],
    "inbox": ["message", *PATIENT, "received (UTC)", "from", "text"],
    "visits": ["visit", *PATIENT, "kind", "due", "window start", "window end"],
    "failed": ["message", *PATIENT, "kind", "status", "error", "last change (UTC)"],
    "questionnaires": ["questionnaire", *PATIENT, "started (UTC)", "closes (UTC)", "answered"],
    "silent": ["patient", *PATIENT, "reminders unanswered", "phone"],
}
CELLS = {
    "flags": lambda f: [f.pk, *_name(f.patient), f.urgency, f.status, f.review_due_at.isoformat(),
                        "; ".join(f.reasons)],
    "inbox": lambda m: [m.pk, *_name(m.about), m.created_on.isoformat(), m.from_number, m.body],
    "visits": lambda v: [v.pk, *_name(v.patient), v.kind, v.due_date, v.window_start,
                         v.window_end],
    "failed": lambda m: [m.pk, *_name(m.about), m.kind, m.status, m.error,
                         m.modified_on.isoformat()],
    "questionnaires": lambda q: [q.pk, *_name(q.patient), q.started_at.isoformat(),
                                 q.expires_at.isoformat(), q.step],
    "silent": lambda p: [p.pk, *_name(p), p.self_exams_unanswered, p.contact.number],
}  # fmt: skip


class _Echo:
    def write(self, value: str) -> str:
        return value


def _rows(key: str, queryset) -> Iterator[list]:
    batch = []
    for row in queryset.iterator(chunk_size=CHUNK):
        batch.append(row)
        if len(batch) == CHUNK:
            yield from _cells(key, batch)
            batch = []
    yield from _cells(key, batch)


def _cells(key: str, batch: list) -> Iterator[list]:
    if key in worklist.ABOUT_PATIENTS_BY_SUBJECT:
        worklist.with_patients(batch)
    for row in batch:
        yield [_safe(cell) for cell in CELLS[key](row)]


@staff_page
@require_GET
def export(request: HttpRequest, key: str) -> StreamingHttpResponse:
    if key not in worklist.LISTS:
        raise Http404("No such list.")
    cohorts = chosen_cohorts(request)
    rows_of = worklist.LISTS[key][0]
    queryset = rows_of(request.user, cohorts, timezone.now())
    whose = WHOSE.get(key, "patient_id")
    exported = queryset.order_by().values_list(whose, "pk")
    trail.record_list(request, list(exported), key, reason="CSV export", action=trail.Action.EXPORT)
    writer = csv.writer(_Echo())
    lines = (writer.writerow(row) for row in [COLUMNS[key], *_rows(key, queryset)])
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{key}-{stamp}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
