import csv
import hashlib
from datetime import date, time
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from cohorts import services
from cohorts.models import Patient, RiskAssessment, TumourProfile
from scheduling.models import ReminderSeries, Visit
from tests.factories import CohortFactory, PatientFactory, UserFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel("2026-01-10 12:00Z"):
        yield


RECEPTORS = {
    "standard": {"er": "positive", "pr": "positive", "her2": "negative"},
    "high": {"er": "negative", "pr": "negative", "her2": "positive"},
    "very_high": {
        "er": "positive",
        "pr": "positive",
        "her2": "negative",
        "prior_recurrence": "yes",
    },
}


def row(number: int, tier: str = "standard", **overrides) -> dict:
    values = {
        "first_name": f"Test{number}",
        "last_name": "Import",
        "date_of_birth": "1968-04-02",
        "mrn": f"IMP-{number:04d}",
        "phone": f"+1 201 555 {100 + number % 100:04d}",  # fictional 555-01xx
        "timezone": "America/New_York",
        "language": "en",
        "reminder_time": "09:30",
        "sms_consent": "true",
        "er": "",
        "pr": "",
        "her2": "",
        "histology": "ductal",
        "stage": "II",
        "surgery_date": "2025-06-01",
        "surgery_site": "left breast",
        "treatment_end_date": "2025-12-01",
        "prior_recurrence": "no",
    }
    values.update(RECEPTORS[tier])
    values.update(overrides)
    return values


@pytest.fixture
def cohort():
    return CohortFactory(name="Adjuvant", site="North Hospital")


@pytest.fixture
def write_csv(tmp_path):
    def write(rows, columns=None, name="patients.csv"):
        columns = columns or list(rows[0])
        path = tmp_path / name
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        return path

    return write


def run_import(path, *args, cohort="Adjuvant"):
    out, err = StringIO(), StringIO()
    try:
        call_command(
            "import_patients", str(path), "--cohort", cohort, *args, stdout=out, stderr=err
        )
    except CommandError as exc:
        exc.stderr = err.getvalue()
        raise
    return out.getvalue(), err.getvalue()


def snapshot(cohort):
    """What an import left in `cohort`, comparable across runs."""
    return sorted(
        (
            p.mrn,
            p.risk_tier,
            p.visits.count(),
            p.reminder_series.count(),
            p.risk_assessments.count(),
        )
        for p in cohort.patients.all()
    )


def test_it_imports_valid_rows_with_tiers_and_plans(write_csv, cohort):
    path = write_csv([row(1, "standard"), row(2, "high"), row(3, "very_high")])

    out, err = run_import(path, "--no-progress")

    assert err == ""
    assert "Imported 3 patients" in out
    assert "skipped 0" in out
    assert "standard=1, high=1, very_high=1" in out
    tiers = dict(Patient.objects.values_list("mrn", "risk_tier"))
    assert tiers == {"IMP-0001": "standard", "IMP-0002": "high", "IMP-0003": "very_high"}
    for patient in Patient.objects.select_related("profile"):
        assert patient.cohort == cohort
        assert patient.site == "North Hospital"
        assert patient.phone.startswith("+1201555")
        assert patient.reminder_time == time(9, 30)
        assert patient.contact.sms_consent and patient.contact.sms_consent_at is not None
        assert patient.contact.sms_consent_source == "import"
        assert patient.enrolled_on == date(2026, 1, 10)
        assert patient.profile.treatment_end_date == date(2025, 12, 1)
        assert patient.visits.filter(status=Visit.Status.PLANNED).exists()
        assert patient.reminder_series.filter(is_active=True).exists()
        assert patient.history.count() == 1
        assert patient.profile.history.count() == 1
        assert patient.risk_assessments.count() == 1
    assert Patient.objects.get(mrn="IMP-0003").profile.prior_recurrence is True


def test_it_fills_missing_or_blank_optional_columns_with_model_defaults(write_csv, cohort):
    required = ["first_name", "last_name", "date_of_birth", "mrn", "phone", "treatment_end_date"]
    path = write_csv(
        [row(1, enrolled_on="2026-01-05"), row(2, enrolled_on="")],
        columns=[*required, "sms_consent", "enrolled_on"],
    )

    run_import(path)

    first, second = Patient.objects.select_related("profile").order_by("mrn")
    assert first.enrolled_on == date(2026, 1, 5)
    assert second.enrolled_on == date(2026, 1, 10)
    assert second.timezone == "UTC"
    assert second.language == "en"
    assert second.reminder_time == time(10, 0)
    assert (second.profile.er, second.profile.her2, second.profile.stage) == (
        "unknown",
        "unknown",
        "unknown",
    )
    assert second.profile.surgery_date is None
    assert second.profile.prior_recurrence is False
    assert second.risk_tier == "high"  # unknown receptors are followed up closely


@pytest.mark.parametrize(
    ("text", "expected"),
    [("TRUE", True), ("Yes", True), ("1", True), ("False", False), ("NO", False), ("0", False)],
)
def test_it_reads_booleans_in_any_case(write_csv, cohort, text, expected):
    path = write_csv([row(1, sms_consent=text, prior_recurrence=text)])

    run_import(path)

    patient = Patient.objects.select_related("profile").get()
    assert patient.contact.sms_consent is expected
    assert patient.profile.prior_recurrence is expected
    assert (patient.contact.sms_consent_at is not None) is expected


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "+1 201 555"}, "phone"),
        ({"phone": "not a phone"}, "phone"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"date_of_birth": "2025-02-30"}, "date_of_birth"),
        ({"date_of_birth": "2099-01-01"}, "date_of_birth"),
        ({"her2": "maybe"}, "her2"),
        ({"sms_consent": "maybe"}, "sms_consent"),
        ({"reminder_time": "25:00"}, "reminder_time"),
        ({"treatment_end_date": "2025-01-01"}, "treatment_end_date"),
        ({"treatment_end_date": ""}, "treatment_end_date"),
        ({"mrn": ""}, "mrn"),
    ],
)
def test_it_writes_nothing_when_one_row_is_invalid(write_csv, cohort, change, field):
    path = write_csv([row(1), row(2, **change), row(3)])

    with pytest.raises(CommandError, match="1 of 3 rows are invalid; nothing was imported"):
        run_import(path)

    assert not Patient.objects.exists()
    assert not TumourProfile.objects.exists()
    assert not Visit.objects.exists()


def test_it_reports_every_bad_row_by_line_and_column(write_csv, cohort):
    path = write_csv(
        [
            row(1),
            row(2, phone="+1 201 555"),
            row(3),
            row(4, timezone="Mars/Olympus_Mons", date_of_birth="2025-02-30"),
            row(5, her2="maybe"),
        ]
    )

    with pytest.raises(CommandError, match="3 of 5 rows") as caught:
        run_import(path)

    lines = caught.value.stderr.splitlines()
    assert lines[0] == "row 3: phone: Not a valid phone number."
    assert any(line.startswith("row 5: timezone: 'Mars/Olympus_Mons'") for line in lines)
    assert any(line.startswith("row 5: date_of_birth: Date has wrong format") for line in lines)
    assert lines[-1] == 'row 6: her2: "maybe" is not a valid choice.'
    assert len(lines) == 4


def test_it_imports_the_valid_rows_and_reports_the_others_with_skip_invalid(write_csv, cohort):
    path = write_csv([row(1), row(2, phone="+1 201 555"), row(3, "high"), row(4, her2="maybe")])

    out, err = run_import(path, "--skip-invalid")

    assert set(Patient.objects.values_list("mrn", flat=True)) == {"IMP-0001", "IMP-0003"}
    assert "Imported 2 patients" in out
    assert "skipped 2 invalid rows" in out
    assert "standard=1, high=1, very_high=0" in out
    assert err.splitlines() == [
        "row 3: phone: Not a valid phone number.",
        'row 5: her2: "maybe" is not a valid choice.',
    ]


def test_it_reports_an_mrn_repeated_in_the_file_on_every_row(write_csv, cohort):
    path = write_csv([row(1), row(2, mrn="IMP-0001"), row(3)])

    with pytest.raises(CommandError) as caught:
        run_import(path)

    assert not Patient.objects.exists()
    assert caught.value.stderr.splitlines() == [
        "row 2: mrn: This MRN is also on row 3 of this file.",
        "row 3: mrn: This MRN is also on row 2 of this file.",
    ]

    out, _ = run_import(path, "--skip-invalid")

    assert list(Patient.objects.values_list("mrn", flat=True)) == ["IMP-0003"]


def test_it_rejects_an_mrn_already_enrolled_at_the_same_site(write_csv, cohort):
    elsewhere = CohortFactory(name="Other", site="South Hospital")
    PatientFactory(cohort=CohortFactory(name="Sibling", site="North Hospital"), mrn="IMP-0001")
    PatientFactory(cohort=elsewhere, mrn="IMP-0002")
    path = write_csv([row(1), row(2)])

    with pytest.raises(CommandError) as caught:
        run_import(path)

    assert caught.value.stderr.splitlines() == [
        "row 2: mrn: This MRN is already enrolled at this site."
    ]
    assert cohort.patients.count() == 0

    run_import(path, "--skip-invalid")

    assert list(cohort.patients.values_list("mrn", flat=True)) == ["IMP-0002"]


def test_it_refuses_a_file_with_a_missing_required_column(write_csv, cohort):
    columns = [c for c in row(1) if c != "phone"]
    path = write_csv([row(1)], columns=columns)

    with pytest.raises(CommandError, match="missing required columns: phone"):
        run_import(path)

    assert not Patient.objects.exists()


def test_it_refuses_a_file_with_unknown_columns_before_reading_rows(write_csv, cohort):
    path = write_csv([row(1, nhs_number="123", email="x@example.invalid")])

    with pytest.raises(CommandError, match="unknown columns: 'nhs_number', 'email'"):
        run_import(path)

    assert not Patient.objects.exists()


def test_it_refuses_an_unknown_cohort(write_csv, cohort):
    path = write_csv([row(1)])

    with pytest.raises(CommandError, match="No cohort named 'Nope'"):
        run_import(path, cohort="Nope")


def test_it_needs_the_site_when_two_sites_share_a_cohort_name(write_csv, cohort):
    south = CohortFactory(name="Adjuvant", site="South Hospital")
    path = write_csv([row(1)])

    with pytest.raises(CommandError, match="2 cohorts are named 'Adjuvant'.*--site"):
        run_import(path)
    run_import(path, "--site", "South Hospital")

    assert list(Patient.objects.values_list("cohort", flat=True)) == [south.pk]


def test_it_only_uses_cohorts_the_given_user_belongs_to(write_csv, cohort):
    alice = UserFactory(username="alice", role="coordinator")
    mine = CohortFactory(name="Mine", site="North Hospital", coordinators=[alice])
    path = write_csv([row(1)])

    with pytest.raises(CommandError, match="No cohort named 'Adjuvant'"):
        run_import(path, "--user", "alice")
    run_import(path, "--user", "alice", cohort="Mine")

    patient = Patient.objects.get()
    assert patient.cohort == mine
    assert patient.history.get().history_user == alice
    assert RiskAssessment.objects.get().assessed_by == alice


def test_it_gives_the_same_result_with_batches_smaller_than_the_file(write_csv, cohort):
    tiers = ["standard", "high", "very_high", "high", "standard"]
    path = write_csv([row(n, tier) for n, tier in enumerate(tiers, start=1)])

    other_site = CohortFactory(name="Batched", site="South Hospital")
    run_import(path)
    out, _ = run_import(path, "--batch-size", "2", cohort="Batched")

    in_one_batch = snapshot(cohort)
    assert snapshot(other_site) == in_one_batch
    assert len(in_one_batch) == 5
    assert "standard=2, high=2, very_high=1" in out


def test_it_rolls_back_every_batch_when_a_late_batch_fails(write_csv, cohort, monkeypatch):
    real_enrol, calls = services.enrol, []

    def enrol_then_fail(patients, profiles, by=None):
        calls.append(len(patients))
        if len(calls) == 3:
            raise IntegrityError("duplicate key value violates unique constraint")
        real_enrol(patients, profiles, by=by)

    monkeypatch.setattr(services, "enrol", enrol_then_fail)
    path = write_csv([row(n) for n in range(1, 6)])

    with pytest.raises(CommandError, match="nothing was imported"):
        run_import(path, "--batch-size", "2")

    assert calls == [2, 2, 1]
    assert not Patient.objects.exists()
    assert not ReminderSeries.objects.exists()


def test_it_runs_the_same_number_of_queries_whatever_the_number_of_rows(write_csv, cohort):
    def queries_for(numbers, name):
        path = write_csv([row(n, "high") for n in numbers], name=name)
        with CaptureQueriesContext(connection) as captured:
            run_import(path, "--batch-size", "50")
        return len(captured)

    small = queries_for(range(1, 11), "small.csv")
    large = queries_for(range(101, 141), "large.csv")

    assert Patient.objects.count() == 50
    assert small == large
    assert small < 40, small


def test_a_row_without_a_zone_takes_the_cohorts_zone(write_csv, cohort):
    type(cohort).objects.filter(pk=cohort.pk).update(timezone="Europe/Madrid")
    required = ["first_name", "last_name", "date_of_birth", "mrn", "phone", "treatment_end_date"]
    rows = [row(1, timezone=""), row(2, timezone="America/Chicago")]
    path = write_csv(rows, columns=[*required, "timezone"])

    run_import(path)

    zones = list(Patient.objects.order_by("mrn").values_list("contact__timezone", flat=True))
    assert zones == ["Europe/Madrid", "America/Chicago"]


def test_it_reports_a_row_past_the_protocols_follow_up(write_csv, cohort):
    rows = [row(1), row(2, surgery_date="2014-06-01", treatment_end_date="2015-12-01")]

    with pytest.raises(CommandError) as failure:
        run_import(write_csv(rows))

    assert "row 3: treatment_end_date: Primary treatment that ended before" in (
        failure.value.stderr
    )
    assert not Patient.objects.exists()


def test_it_says_which_zones_the_patients_follow(write_csv, cohort):
    type(cohort).objects.filter(pk=cohort.pk).update(timezone="Europe/Madrid")
    rows = [row(1, timezone=""), row(2, timezone=""), row(3, timezone="America/Chicago")]

    out, _ = run_import(write_csv(rows))

    assert (
        "Time zones: America/Chicago=1, Europe/Madrid=2; 2 rows gave no zone and took the "
        "cohort's (Europe/Madrid) unless their number already had one."
    ) in out


def test_the_trail_says_who_imported_which_file_and_what_it_enrolled(write_csv, cohort):
    importer = UserFactory(username="importer", role="coordinator")
    cohort.coordinators.add(importer)
    path = write_csv([row(1), row(2), row(3, phone="not a phone")])

    run_import(path, "--skip-invalid", "--user", "importer")

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    summary = AuditEvent.objects.get(object_type="patient_import")
    assert (summary.action, summary.object_id, summary.username) == ("import", digest, "importer")
    assert summary.reason == f"cohort {cohort.pk}: 2 accepted, 1 refused"
    enrolled = AuditEvent.objects.filter(object_type="patient", action="import")
    assert {event.patient_id for event in enrolled} == set(
        Patient.objects.values_list("pk", flat=True)
    )


def test_a_refused_file_is_on_the_trail_too(write_csv, cohort):
    path = write_csv([row(1), row(2, phone="not a phone")])

    with pytest.raises(CommandError):
        run_import(path)

    summary = AuditEvent.objects.get(object_type="patient_import")
    assert summary.reason == f"cohort {cohort.pk}: 0 accepted, 1 refused"


def test_an_implausible_date_is_a_reported_row_and_skip_invalid_imports_the_rest(write_csv, cohort):
    rows = [row(1), row(2, treatment_end_date="9999-12-31"), row(3, date_of_birth="1800-01-01")]

    out, err = run_import(write_csv(rows), "--skip-invalid")

    assert "row 3: treatment_end_date: A treatment date must be between" in err
    assert "row 4: date_of_birth: A date of birth must be between" in err
    assert "Imported 1 patients" in out
