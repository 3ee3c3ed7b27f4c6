"""Enrol a patient, or edit one, in the browser: the API's serializer decides.

The form posts the API's fields flat (the tumour profile's beside the
patient's); `PatientSerializer` validates and saves them exactly as for
`POST /api/v1/patients/` and `PATCH /api/v1/patients/{id}/` (enrolment plans
the patient; a change reassesses and replans). Its errors come back next to
their fields.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audit import trail
from cohorts.access import cohorts_for, patients_for
from cohorts.models import HISTOLOGY_CHOICES, RECEPTOR_CHOICES, TumourProfile
from cohorts.patient_import import flatten_errors
from cohorts.serializers import PatientSerializer
from notifications.models import Language

from .access import mine_or_404, staff_page

PATIENT_FIELDS = [
    ("first_name", "First name", "text", None),
    ("last_name", "Last name", "text", None),
    ("date_of_birth", "Date of birth", "date", None),
    ("mrn", "MRN", "text", None),
    ("phone", "Mobile number", "tel", None),
    ("timezone", "Time zone (IANA, e.g. America/New_York; blank: the cohort's)", "text", None),
    ("language", "Language of the SMS", "select", Language.choices),
    ("reminder_time", "Reminders at (local time)", "time", None),
    ("enrolled_on", "Enrolled on (blank: today)", "date", None),
]
PROFILE_FIELDS = [
    ("er", "ER", "select", RECEPTOR_CHOICES),
    ("pr", "PR", "select", RECEPTOR_CHOICES),
    ("her2", "HER2", "select", RECEPTOR_CHOICES),
    ("histology", "Histology", "select", HISTOLOGY_CHOICES),
    ("stage", "Stage", "select", TumourProfile.Stage.choices),
    ("diagnosis_date", "Diagnosis date", "date", None),
    ("surgery_date", "Surgery date", "date", None),
    ("surgery_site", "Surgery site", "text", None),
    ("treatment_end_date", "End of primary treatment", "date", None),
]
CHECKBOXES = {"sms_consent": "Consent to SMS recorded", "prior_recurrence": "Prior recurrence"}


def _payload(post, cohort_id) -> dict:
    """The API's nested shape from the flat form; blank fields are left out."""
    payload = {"profile": {}}
    if cohort_id:
        payload["cohort"] = cohort_id
    for name, *_ in PATIENT_FIELDS:
        if post.get(name, "").strip():
            payload[name] = post[name].strip()
    for name, *_ in PROFILE_FIELDS:
        if post.get(name, "").strip():
            payload["profile"][name] = post[name].strip()
    payload["sms_consent"] = post.get("sms_consent") == "on"
    payload["profile"]["prior_recurrence"] = post.get("prior_recurrence") == "on"
    return payload


def _initial(patient) -> dict:
    data = PatientSerializer(patient).data
    values = {name: data.get(name) or "" for name, *_ in PATIENT_FIELDS}
    values.update({name: data["profile"].get(name) or "" for name, *_ in PROFILE_FIELDS})
    values.update(
        sms_consent=data["sms_consent"], prior_recurrence=data["profile"]["prior_recurrence"]
    )
    return values


def _form(request, template_context: dict, status: int = 200) -> HttpResponse:
    context = {
        "patient_fields": PATIENT_FIELDS,
        "profile_fields": PROFILE_FIELDS,
        "checkboxes": CHECKBOXES,
        **template_context,
    }
    return render(request, "staff/patient_form.html", context, status=status)


def _errors(serializer) -> dict:
    found = {}
    for column, message in flatten_errors(serializer.errors):
        found.setdefault(column, message)
    return found


@staff_page
@require_http_methods(["GET", "HEAD", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    cohorts = list(cohorts_for(request.user).order_by("name"))
    if request.method != "POST":
        return _form(request, {"cohorts": cohorts, "values": {}, "errors": {}})
    payload = _payload(request.POST, request.POST.get("cohort"))
    serializer = PatientSerializer(data=payload, context={"request": request})
    if not serializer.is_valid():
        context = {"cohorts": cohorts, "values": request.POST, "errors": _errors(serializer)}
        return _form(request, context, status=400)
    patient = serializer.save()
    trail.record(request, trail.Action.CREATE, patient, "patient", patient.pk)
    return redirect("staff:patient", patient_id=patient.pk)


@staff_page
@require_http_methods(["GET", "HEAD", "POST"])
def edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = mine_or_404(
        patients_for(request.user).select_related("cohort", "contact", "profile"),
        patient_id,
        "patient",
    )
    if request.method != "POST":
        return _form(request, {"patient": patient, "values": _initial(patient), "errors": {}})
    serializer = PatientSerializer(
        patient, data=_payload(request.POST, None), partial=True, context={"request": request}
    )
    if not serializer.is_valid():
        context = {"patient": patient, "values": request.POST, "errors": _errors(serializer)}
        return _form(request, context, status=400)
    serializer.save()
    trail.record(request, trail.Action.UPDATE, patient, "patient", patient.pk)
    return redirect("staff:patient", patient_id=patient.pk)
