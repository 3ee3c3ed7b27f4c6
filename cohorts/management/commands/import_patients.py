"""Enrol patients into one cohort from a CSV file, all or nothing.

    manage.py import_patients patients.csv --cohort "Adjuvant follow-up" [--site "North Hospital"]
        [--user USERNAME] [--skip-invalid] [--batch-size 500] [--no-progress]

File format
-----------
UTF-8 (a byte-order mark, as Excel writes it, is fine), comma-separated, with a
header line naming the columns in any order. One patient per line.

Required columns (a blank cell is reported as "This field is required."):

    first_name, last_name, mrn
    date_of_birth            YYYY-MM-DD, in the past
    phone                    a mobile number; without a country code it is read
                             in PHONE_DEFAULT_REGION; stored as E.164
    treatment_end_date       YYYY-MM-DD, end of primary treatment

Optional columns (the column may be left out, or a cell left blank, to get the
default shown in brackets). Phone, zone, language and consent belong to the
number: a number already known keeps what a blank cell does not change.

    timezone                 IANA name such as America/New_York [the cohort's zone]
    language                 en | es [en]
    reminder_time            HH:MM, local time of reminders [10:00]
    sms_consent              boolean [false]; true records consent now, source "import"
    er, pr, her2             positive | negative | unknown [unknown]
    histology                ductal | lobular | inflammatory | other [ductal]
    stage                    0 | I | II | III | IV | unknown [unknown]
    diagnosis_date           YYYY-MM-DD [none]
    surgery_date             YYYY-MM-DD [none]
    surgery_site             free text, e.g. "left breast" [blank]
    prior_recurrence         boolean [false]
    enrolled_on              YYYY-MM-DD [today]

Booleans are true/false, yes/no or 1/0, in any case. Cells are stripped of
surrounding spaces; lines that are empty or have only empty cells are ignored.
A column the command does not know, a missing required column or a repeated
column stops the import before any row is read.

Validation
----------
Every row is validated with the API's rules (`PatientSerializer`, through the
small subclass below that resolves the cohort and the "MRN already enrolled at
this site" check once per file instead of once per row). An MRN that appears on
more than one line of the file is reported on every line that carries it: the
command cannot know which of them is right. Errors go to stderr, one per line:

    row 7: phone: Not a valid phone number.

where the row is the line number in the file (the header is line 1).

By default one invalid row stops the whole file: nothing is written and the
command fails. With --skip-invalid the valid rows are imported and the invalid
ones only reported. Enrolment (patients, profiles, history, risk assessment,
visit and reminder plans) runs in bulk batches of --batch-size rows inside one
transaction, so a failure in a late batch still leaves the database untouched.

Who imports
-----------
With --user USERNAME the import runs as that user: the cohort must be one they
coordinate or lead (or they are an admin), and the history records them as the
author. Without it, the command runs as a system import: whoever can run
manage.py already has full database access, so it sees every cohort, like an
admin, and the history records no user.

What it says
------------
How many patients were imported and skipped, their tiers, and the time zones
their reminders follow, with how many rows gave no zone and took the cohort's.
"""

import hashlib
import sys
from collections import Counter

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from tqdm import tqdm

from audit import trail
from cohorts import patient_import
from cohorts.access import cohorts_for
from cohorts.models import Cohort, Patient
from cohorts.patient_import import (
    PATIENT_COLUMNS,
    PROFILE_COLUMNS,
    REQUIRED_COLUMNS,
    BadFile,
    Row,
    SystemImport,
)
from cohorts.risk import Tier


class Command(BaseCommand):
    help = (
        "Enrol patients into a cohort from a UTF-8 CSV file with a header line, all or nothing. "
        f"Required columns: {', '.join(REQUIRED_COLUMNS)}. Optional columns: "
        f"{', '.join(c for c in PATIENT_COLUMNS + PROFILE_COLUMNS if c not in REQUIRED_COLUMNS)}. "
        "Full format: the docstring of cohorts/management/commands/import_patients.py."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header line.")
        parser.add_argument("--cohort", required=True, help="Name of the cohort to enrol into.")
        parser.add_argument("--site", help="Site of the cohort, when two sites share the name.")
        parser.add_argument(
            "--user", help="Import as this user (default: a system import that sees all cohorts)."
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows and report the invalid ones (default: all or nothing).",
        )
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args, file, cohort, site, user, skip_invalid, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        actor = self._actor(user)
        chosen = self._cohort(actor, cohort, site)
        self.progress = not options["no_progress"] and self.stderr.isatty()
        rows = self._read(file)
        self._validate(rows, chosen, actor)

        invalid = [row for row in rows if row.errors]
        for row in invalid:
            for error in row.errors:
                self.stderr.write(f"row {row.line}: {error}")
        by = None if isinstance(actor, SystemImport) else actor
        if invalid and not skip_invalid:
            self._audit(by, file, chosen, [], len(invalid))
            raise CommandError(
                f"{len(invalid)} of {len(rows)} rows are invalid; nothing was imported. "
                "Fix them, or pass --skip-invalid to import the valid rows only."
            )

        valid = [row for row in rows if not row.errors]
        patients = self._enrol(valid, batch_size, by=by)
        self._audit(by, file, chosen, patients, len(invalid))
        tiers = Counter(patient.risk_tier for patient in patients)
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(patients)} patients into {chosen}; skipped {len(invalid)} "
                "invalid rows."
            )
        )
        self.stdout.write("Tiers: " + ", ".join(f"{tier}={tiers[tier.value]}" for tier in Tier))
        self.stdout.write(patient_import.zones_summary(valid, patients, chosen))

    @staticmethod
    def _audit(by, path: str, cohort: Cohort, patients: list[Patient], refused: int) -> None:
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        request = trail.system_request(by, "manage.py import_patients")
        patient_import.audit(request, digest, cohort, patients, refused)

    # Who and where

    def _actor(self, username):
        if username is None:
            return SystemImport()
        try:
            return get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None

    def _cohort(self, actor, name: str, site: str | None) -> Cohort:
        matches = cohorts_for(actor).filter(name=name)
        if site is not None:
            matches = matches.filter(site=site)
        found = list(matches[:10])
        where = f" at {site!r}" if site is not None else ""
        if not found:
            raise CommandError(f"No cohort named {name!r}{where} that this import can use.")
        if len(found) > 1:
            sites = ", ".join(repr(c.site) for c in found)
            raise CommandError(
                f"{len(found)} cohorts are named {name!r} (sites {sites}); pick one with --site."
            )
        return found[0]

    # Reading, validating, writing: cohorts.patient_import

    def _read(self, path: str) -> list[Row]:
        try:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                return patient_import.parse(handle)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text: {exc}") from exc
        except BadFile as exc:
            raise CommandError(str(exc)) from exc

    def _validate(self, rows: list[Row], cohort: Cohort, actor) -> None:
        patient_import.validate(rows, cohort, actor, progress=self._bar)

    def _enrol(self, rows: list[Row], batch_size: int, by) -> list[Patient]:
        try:
            return patient_import.enrol(rows, batch_size, by, progress=self._bar)
        except IntegrityError as exc:
            raise CommandError(
                f"The database refused the import, nothing was imported: {exc}"
            ) from exc

    def _bar(self, items, label: str):
        unit = "row" if label == "Validating" else "batch"
        out = getattr(self.stderr, "_out", sys.stderr)
        return tqdm(items, desc=label, unit=unit, disable=not self.progress, file=out)
