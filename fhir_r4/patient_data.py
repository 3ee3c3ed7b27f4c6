"""Everything a patient's FHIR record is made from, read for many patients at once.

One query per kind of row for a whole chunk of patients (never one per
patient), so that a cohort's bulk export costs the same per patient as one
patient's `$everything`.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch

from cohorts.models import Patient, RiskAssessment
from notifications.models import Message
from scheduling.models import ReminderSeries, Visit
from surveillance.models import Flag, LesionPhoto, LesionReport


@dataclass
class PatientData:
    patient: Patient
    assessment: RiskAssessment | None = None
    visits: list[Visit] = field(default_factory=list)
    series: list[ReminderSeries] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    reports: list[LesionReport] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


def load(patient_ids: list[int]) -> list[PatientData]:
    """The patients' data, in the order of `patient_ids` (missing ids are left out)."""
    patients = Patient.objects.filter(pk__in=patient_ids).select_related(
        "profile", "contact", "cohort"
    )
    found = {patient.pk: PatientData(patient) for patient in patients}
    ids = list(found)
    for assessment in RiskAssessment.objects.filter(patient_id__in=ids).order_by(
        "patient_id", "-assessed_at", "-id"
    ):
        if found[assessment.patient_id].assessment is None:
            found[assessment.patient_id].assessment = assessment
    _group(found, "visits", Visit.objects.filter(patient_id__in=ids).order_by("due_date", "id"))
    _group(found, "series", ReminderSeries.objects.filter(patient_id__in=ids, is_active=True))
    flags = Flag.objects.filter(patient_id__in=ids, status__in=Flag.UNRESOLVED)
    _group(found, "flags", flags.order_by("created_at", "id"))
    photos = Prefetch("photos", LesionPhoto.objects.order_by("uploaded_at", "id"))
    reports = LesionReport.objects.filter(patient_id__in=ids).prefetch_related(photos)
    _group(found, "reports", reports.order_by("created_at", "id"))
    _group(found, "messages", _messages(ids), key="subject_id")
    return [found[pk] for pk in patient_ids if pk in found]


def _messages(patient_ids: list[int]):
    kind = ContentType.objects.get_for_model(Patient)
    return Message.objects.filter(subject_type=kind, subject_id__in=patient_ids).order_by(
        "created_on", "id"
    )


def _group(found: dict[int, PatientData], name: str, rows, key: str = "patient_id") -> None:
    grouped = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    for patient_id, items in grouped.items():
        setattr(found[patient_id], name, items)
