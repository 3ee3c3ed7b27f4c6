"""Enrolling patients from a CSV file: reading, validating with the API's rules, enrolling.

Used by `manage.py import_patients` (whose docstring gives the file format)
and by the staff web's import, so both read and refuse the same files the
same way. All or nothing: enrolment runs in one transaction.
"""

import csv
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from rest_framework.settings import api_settings

from audit import trail
from cohorts import contacts, hooks, services
from cohorts.models import Cohort, Patient, TumourProfile
from cohorts.serializers import CohortField, PatientSerializer
from notifications.models import ConsentSource

PATIENT_COLUMNS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "mrn",
    "phone",
    "timezone",
    "language",
    "reminder_time",
    "sms_consent",
    "enrolled_on",
)
PROFILE_COLUMNS = (
    "er",
    "pr",
    "her2",
    "histology",
    "stage",
    "diagnosis_date",
    "surgery_date",
    "surgery_site",
    "treatment_end_date",
    "prior_recurrence",
)
KNOWN_COLUMNS = frozenset(PATIENT_COLUMNS + PROFILE_COLUMNS)
REQUIRED_COLUMNS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "mrn",
    "phone",
    "treatment_end_date",
)
BOOLEAN_COLUMNS = frozenset({"sms_consent", "prior_recurrence"})
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})


@dataclass(frozen=True)
class SystemImport:
    """The default actor of the command: not a user row, but admin-equivalent.

    `cohorts_for` lets it see every cohort (is_superuser short-circuits the
    admin check); enrolment records no user in the history (by=None).
    """

    is_authenticated: bool = True
    is_superuser: bool = True
    is_active: bool = True
    pk: None = None


@dataclass(frozen=True)
class ImportRequest:
    """Just enough of a request for the serializer's context: the acting user."""

    user: object


@dataclass
class Row:
    line: int
    cells: dict[str, str]
    errors: list[str]
    validated: dict | None = None


class _ChosenCohortField(CohortField):
    """The cohort picked once on the command line; rows resolve it without a query."""

    def to_internal_value(self, data):
        cohort = self.context["cohort"]
        if data == cohort.pk:
            return cohort
        return super().to_internal_value(data)


class ImportPatientSerializer(PatientSerializer):
    """PatientSerializer with its per-row queries answered once per file.

    Every rule is inherited; only the cohort (chosen on the command line),
    the MRNs already enrolled at the site (`context["enrolled_mrns"]`, one
    query for the file) and the follow-up limit (`context["follow_up_limit"]`)
    are read once instead of per row.
    """

    cohort = _ChosenCohortField()

    def mrn_taken(self, site: str, mrn: str) -> bool:
        return mrn in self.context["enrolled_mrns"]

    def follow_up_limit(self, cohort: Cohort) -> hooks.FollowUpLimit | None:
        return self.context["follow_up_limit"]


def build_patient(validated_data: dict) -> tuple[Patient, TumourProfile, dict]:
    """Unsaved objects and the phone's details, as PatientSerializer.create builds them."""
    data, details, _ = PatientSerializer.split(validated_data)
    profile = TumourProfile(**data.pop("profile"))
    return PatientSerializer.new_patient(data), profile, details


def _boolean(value: str):
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return value  # Left for the serializer to reject with its own message.


def row_payload(cells: dict[str, str], cohort: Cohort) -> dict:
    """The API's nested input shape; blank cells are left out (required → error, else default)."""
    payload = {"cohort": cohort.pk, "profile": {}}
    for column, value in cells.items():
        if value == "":
            continue
        if column in BOOLEAN_COLUMNS:
            value = _boolean(value)
        target = payload["profile"] if column in PROFILE_COLUMNS else payload
        target[column] = value
    return payload


def flatten_errors(errors, column: str = "") -> list[tuple[str, str]]:
    """Nested serializer errors as (column, message); the CSV columns are flat."""
    if isinstance(errors, dict):
        flat = []
        for key, value in errors.items():
            name = column if key == api_settings.NON_FIELD_ERRORS_KEY else key
            flat += flatten_errors(value, name)
        return flat
    if isinstance(errors, list):
        return [pair for item in errors for pair in flatten_errors(item, column)]
    return [(column or "(row)", str(errors))]


class BadFile(Exception):
    """The file cannot be read as a patient list at all (nothing of it is used)."""


Progress = Callable[[Iterable, str], Iterable]


def no_progress(items: Iterable, label: str) -> Iterable:
    return items


def parse(lines: Iterable[str]) -> list[Row]:
    """The file's rows (lines of text, header first); BadFile if it is not a patient list."""
    reader = csv.reader(lines)
    try:
        return _rows(reader)
    except csv.Error as exc:
        raise BadFile(f"This is not valid CSV: {exc}") from exc


def _rows(reader) -> list[Row]:
    header = next(reader, None)
    if not header or not any(cell.strip() for cell in header):
        raise BadFile("The file is empty: it needs a header line.")
    columns = [cell.strip() for cell in header]
    check_header(columns)
    rows, last_line = [], reader.line_num
    for cells in reader:
        line, last_line = last_line + 1, reader.line_num
        values = [cell.strip() for cell in cells]
        if not any(values):
            continue
        errors = []
        if len(values) > len(columns):
            errors.append(
                f"values: {len(values)} values for {len(columns)} columns; "
                "quote values that contain commas."
            )
        values += [""] * (len(columns) - len(values))
        rows.append(Row(line, dict(zip(columns, values, strict=False)), errors))
    return rows


def check_header(columns: list[str]) -> None:
    problems = []
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    if unknown:
        problems.append("unknown columns: " + ", ".join(repr(c) for c in unknown))
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append("missing required columns: " + ", ".join(missing))
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
    if repeated:
        problems.append("repeated columns: " + ", ".join(repeated))
    if problems:
        raise BadFile("Bad header line: " + "; ".join(problems) + ".")


def validate(rows: list[Row], cohort: Cohort, actor, progress: Progress = no_progress) -> None:
    """Give each row its validated data, or its errors (the API's rules, and an MRN that is
    on several lines of the file is refused on each)."""
    lines_by_mrn = defaultdict(list)
    for row in rows:
        if row.cells.get("mrn"):
            lines_by_mrn[row.cells["mrn"]].append(row.line)
    enrolled = set(
        Patient.objects.filter(site=cohort.site, mrn__in=list(lines_by_mrn)).values_list(
            "mrn", flat=True
        )
    )
    context = {
        "request": ImportRequest(actor),
        "cohort": cohort,
        "enrolled_mrns": enrolled,
        "follow_up_limit": hooks.follow_up_limit(cohort),
    }
    for row in progress(rows, "Validating"):
        if row.errors:
            continue
        serializer = ImportPatientSerializer(data=row_payload(row.cells, cohort), context=context)
        if serializer.is_valid():
            row.validated = serializer.validated_data
        else:
            row.errors += [f"{col}: {msg}" for col, msg in flatten_errors(serializer.errors)]
        lines = lines_by_mrn.get(row.cells.get("mrn"), [])
        if len(lines) > 1:
            others = ", ".join(str(line) for line in lines if line != row.line)
            row.errors.append(f"mrn: This MRN is also on row {others} of this file.")


def enrol(rows: list[Row], batch_size: int, by, progress: Progress = no_progress) -> list[Patient]:
    """Enrol the (valid) rows in batches, in one transaction: all of them, or none
    (IntegrityError if the database refuses one)."""
    built = [build_patient(row.validated) for row in rows]
    batches = [built[i : i + batch_size] for i in range(0, len(built), batch_size)]
    with transaction.atomic():
        for batch in progress(batches, "Enrolling"):
            patients, profiles, details = (list(part) for part in zip(*batch, strict=True))
            zone = patients[0].cohort.timezone
            contacts.bind(patients, details, ConsentSource.IMPORT, default_timezone=zone)
            services.enrol(patients, profiles, by=by)
    return [patient for patient, _, _ in built]


def audit(
    request,
    digest: str,
    cohort: Cohort,
    patients: list[Patient],
    refused: int,
    failed: str = "",
) -> None:
    """Who imported which file (its SHA-256) into which cohort, and each patient it enrolled.

    An import that failed as a whole says so in `failed` (a short phrase, never a row's
    contents): its row is written all the same, with the rows known to be refused.
    """
    summary = f"cohort {cohort.pk}: {len(patients)} accepted, {refused} refused"
    if failed:
        summary = f"{summary}; failed: {failed}"
    trail.record(request, trail.Action.IMPORT, None, "patient_import", digest, summary)
    trail.record(request, trail.Action.IMPORT, patients, "patient", reason=f"import {digest[:16]}")


def zones_summary(rows: list[Row], patients: list[Patient], cohort: Cohort) -> str:
    """Which time zones the enrolled patients' reminders follow, and how many took the
    cohort's: what the command and the staff import say when they are done."""
    zones = Counter(patient.timezone for patient in patients)
    defaulted = sum(1 for row in rows if not row.cells.get("timezone"))
    listed = ", ".join(f"{zone}={count}" for zone, count in sorted(zones.items()))
    return (
        f"Time zones: {listed or 'none'}; {defaulted} rows gave no zone and took the "
        f"cohort's ({cohort.timezone}) unless their number already had one."
    )
