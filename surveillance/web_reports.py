"""Lesion reports on the web: the patient's one-time link, staff entry, private photos.

The patient's form (`/r/<nonce>/`) needs no login: the link is the
credential, and it belongs to one patient. The page never shows the patient's
name (links get forwarded) and never takes a patient id: the report is always
the link's patient's. A link works once: the submission that sets `used_at`
with a conditional UPDATE (`used_at IS NULL`, not expired) wins; any other,
even a concurrent one, changes nothing and gets 410. Unknown links get 404,
used or expired links 410, and those pages say nothing of the patient.

Photos live under MEDIA_ROOT, which no URL serves: staff see them only
through `lesion_photo`, for patients of their cohorts, audited; a photo
retention erased answers 410. Staff asking for another cohort's patient,
report or photo get a 404, as for one that does not exist, and the audit
trail keeps the probe.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from audit import trail as audit
from cohorts.access import patients_for
from cohorts.models import Patient
from notifications.sms_templates import neutral_blank

from .forms import (
    ANSWER_LABELS,
    QUESTION_LABELS,
    TEXT,
    CheckedPhoto,
    LesionReportForm,
    StaffLesionReportForm,
    language_of,
)
from .lesions import record_report
from .models import Flag, LesionPhoto, LesionReport, ReportLink
from .triage import QUESTIONS

# --- Services ------------------------------------------------------------------------


def _mine_or_404(request, queryset, object_id, object_type: str, whose=audit.patient_id_of):
    """The user's record with this id; else the probe is audited and the answer a plain 404."""
    found = queryset.filter(pk=object_id).first()
    if found is None:
        audit.record_probe(request, queryset.model, object_id, object_type, whose)
        raise Http404(f"No such {object_type}.")
    return found


def claim_link(link_id: int, at) -> bool:
    """Mark the link used if it still can be: True for exactly one caller, ever."""
    claimed = ReportLink.objects.filter(pk=link_id, used_at__isnull=True, expires_at__gt=at).update(
        used_at=at
    )
    return claimed == 1


def save_photos(report: LesionReport, photos: list[CheckedPhoto], saved: list[str]) -> None:
    """Store the checked photos; `saved` collects the file names, for clean-up on failure."""
    for checked in photos:
        photo = LesionPhoto(report=report, content_type=checked.content_type, size=checked.size)
        checked.upload.seek(0)
        photo.image.save("photo", checked.upload, save=False)
        saved.append(photo.image.name)
        photo.save()


def _delete_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def submit_web_report(link: ReportLink, form: LesionReportForm, at=None) -> Flag | None:
    """The patient's submission, all or nothing; None if the link was already spent."""
    at = at or timezone.now()
    saved: list[str] = []
    try:
        with transaction.atomic():
            if not claim_link(link.pk, at):
                return None
            flag = record_report(
                link.patient,
                LesionReport.Channel.WEB,
                form.answers(),
                complete=form.complete(),
                note=form.note(),
                at=at,
            )
            save_photos(flag.report, form.cleaned_data["photos"], saved)
            ReportLink.objects.filter(pk=link.pk).update(report=flag.report)
    except BaseException:
        _delete_files(saved)  # the rows are rolled back; the files must go too
        raise
    return flag


def submit_staff_report(request: HttpRequest, patient: Patient, form: StaffLesionReportForm):
    saved: list[str] = []
    try:
        with transaction.atomic():
            flag = record_report(
                patient,
                LesionReport.Channel.STAFF,
                form.answers(),
                complete=form.complete(),
                by=request.user,
                note=form.note(),
            )
            save_photos(flag.report, form.cleaned_data["photos"], saved)
            audit.record(request, audit.Action.CREATE, patient, "lesion_report", flag.report_id)
    except BaseException:
        _delete_files(saved)
        raise
    return flag


# --- The patient's one-time link -----------------------------------------------------


# Why a link cannot be used -> the title and the text shown (keys of forms.TEXT).
_LINK_PAGES = {
    "not_found": ("not_found_title", "not_found"),
    "used": ("gone_title", "gone_used"),
    "expired": ("gone_title", "gone_expired"),
}


def _link_page(request: HttpRequest, kind: str, status: int) -> HttpResponse:
    """404/410: in both languages, since choosing one would say something of the patient."""
    title, body = _LINK_PAGES[kind]
    pages = [
        {
            "language": language,
            "title": TEXT[language][title],
            "body": TEXT[language][body],
            "next": TEXT[language]["gone_next"],
        }
        for language in TEXT
    ]
    return render(request, "lesions/link_gone.html", {"pages": pages}, status=status)


def _usable_link(request: HttpRequest, nonce: str) -> ReportLink | HttpResponse:
    link = ReportLink.objects.select_related("patient__cohort").filter(nonce=nonce).first()
    if link is None:
        return _link_page(request, "not_found", 404)
    if link.used_at is not None:
        return _link_page(request, "used", 410)
    if link.expires_at <= timezone.now():
        return _link_page(request, "expired", 410)
    return link


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def report_form(request: HttpRequest, nonce: str) -> HttpResponse:
    link = _usable_link(request, nonce)
    if isinstance(link, HttpResponse):
        return link
    language = language_of(link.patient.language)
    if request.method == "POST":
        form = LesionReportForm(request.POST, request.FILES, language=language)
        if form.is_valid():
            if submit_web_report(link, form) is None:  # another submission won
                link.refresh_from_db()
                return _link_page(request, "used" if link.used_at else "expired", 410)
            return redirect("lesion-link-thanks", nonce=link.nonce)
    else:
        form = LesionReportForm(language=language)
    context = {
        "form": form,
        "text": form.text,
        "language": language,
        # The page is as public as an SMS: a site's name that names a diagnosis is not shown.
        "greeting": form.text["greeting"].format(
            site=neutral_blank("site", link.patient.cohort.site, language)
        ),
    }
    return render(request, "lesions/public_form.html", context)


@never_cache
@require_http_methods(["GET", "HEAD"])
def report_thanks(request: HttpRequest, nonce: str) -> HttpResponse:
    link = ReportLink.objects.select_related("patient").filter(nonce=nonce).first()
    if link is None or link.used_at is None:
        return _link_page(request, "not_found", 404)
    language = language_of(link.patient.language)
    return render(
        request, "lesions/public_thanks.html", {"text": TEXT[language], "language": language}
    )


# --- Staff ------------------------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def staff_report_form(request: HttpRequest, patient_id: int) -> HttpResponse:
    patients = patients_for(request.user).select_related("cohort")
    patient = _mine_or_404(request, patients, patient_id, "patient")
    if request.method == "POST":
        form = StaffLesionReportForm(request.POST, request.FILES, language="en")
        if form.is_valid():
            flag = submit_staff_report(request, patient, form)
            return redirect(
                "lesion-report-recorded", patient_id=patient.pk, report_id=flag.report_id
            )
    else:
        form = StaffLesionReportForm(language="en")
    response = render(request, "lesions/staff_form.html", {"form": form, "patient": patient})
    audit.record(request, audit.Action.VIEW, patient, "patient", patient.pk)
    return response


def answer_rows(report: LesionReport) -> list[tuple[str, str]]:
    """(question, answer) in words, "Not answered" for the questions left out."""
    questions, answers = QUESTION_LABELS["en"], ANSWER_LABELS["en"]
    rows = []
    for question in QUESTIONS:
        code = report.answers.get(question)
        rows.append((questions[question], answers[question].get(code, code or "Not answered")))
    return rows


@never_cache
@login_required
@require_http_methods(["GET", "HEAD"])
def staff_report_recorded(request: HttpRequest, patient_id: int, report_id: int) -> HttpResponse:
    report = _mine_or_404(
        request,
        LesionReport.objects.select_related("flag", "patient__cohort").filter(
            patient__in=patients_for(request.user), patient_id=patient_id
        ),
        report_id,
        "lesion_report",
    )
    flag = report.flag
    zone = ZoneInfo(report.patient.cohort.timezone)
    context = {
        "report": report,
        "patient": report.patient,
        "flag": flag,
        "review_due_local": timezone.localtime(flag.review_due_at, zone),
        "zone": zone.key,
        "answers": answer_rows(report),
        "photos": list(report.photos.order_by("pk")),
    }
    response = render(request, "lesions/staff_recorded.html", context)
    audit.record(request, audit.Action.VIEW, report.patient, "lesion_report", report.pk)
    return response


@login_required
@require_http_methods(["GET", "HEAD"])
def lesion_photo(request: HttpRequest, photo_id: int) -> HttpResponse:
    photo = _mine_or_404(
        request,
        LesionPhoto.objects.select_related("report").filter(
            report__patient__in=patients_for(request.user)
        ),
        photo_id,
        "lesion_photo",
        whose=lambda photo: photo.report.patient_id,
    )
    if photo.erased_at is not None:
        return HttpResponse(
            "This photo was erased after its retention period.",
            status=410,
            content_type="text/plain",
        )
    try:
        handle = photo.image.open("rb")
    except FileNotFoundError as error:
        raise Http404("No such photo.") from error
    response = FileResponse(handle, content_type=photo.content_type)
    extension = photo.content_type.rpartition("/")[2]
    response["Content-Disposition"] = f'inline; filename="lesion-photo-{photo.pk}.{extension}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    audit.record(request, audit.Action.VIEW, photo.report.patient_id, "lesion_photo", photo.pk)
    return response
