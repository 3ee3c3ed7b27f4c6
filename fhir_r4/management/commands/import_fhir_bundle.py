"""Enrol (or update) patients from an EHR's FHIR R4 Bundle file, all or nothing.

    manage.py import_fhir_bundle bundle.json --cohort "Skin follow-up" --user coordinator

The bundle holds one or more Patients with their breast cancer Condition,
ER/PR/HER2 Observations and completed Procedures (docs/fhir.md). A patient
whose MRN is enrolled at the cohort's site already is updated and re-assessed
when the bundle says something new. The import runs as --user: the cohort
must be one they coordinate or lead (or they are an admin); the audit trail
and the patient's history record them.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from audit import trail
from cohorts.access import cohorts_for
from fhir_r4 import enrolment
from fhir_r4.problems import BundleRefused


class Command(BaseCommand):
    help = "Enrol or update patients from a FHIR R4 Bundle (JSON), all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", help="FHIR R4 Bundle, JSON.")
        parser.add_argument("--cohort", required=True, help="Name (or id) of the cohort.")
        parser.add_argument("--user", required=True, help="Username to import as.")

    def handle(self, *args, file, cohort, user, **options):
        actor = get_user_model().objects.filter(username=user, is_active=True).first()
        if actor is None:
            raise CommandError(f"No active user {user!r}.")
        chosen = self._cohort(actor, cohort)
        with open(file, "rb") as handle:
            raw = handle.read()
        request = trail.system_request(actor, "manage.py import_fhir_bundle")
        try:
            outcome = enrolment.import_bundle(raw, chosen, actor, request)
        except BundleRefused as refused:
            for problem in refused.problems:
                self.stderr.write(str(problem))
            raise CommandError(
                f"{len(refused.problems)} problem(s) in the bundle; nothing was imported."
            ) from refused
        self.stdout.write(self.style.SUCCESS(f"{chosen}: {outcome.summary()}."))

    @staticmethod
    def _cohort(actor, name_or_id: str):
        cohorts = cohorts_for(actor)
        found = cohorts.filter(pk=int(name_or_id)) if name_or_id.isdigit() else cohorts.none()
        found = found or cohorts.filter(name=name_or_id)
        if len(found) != 1:
            raise CommandError(
                f"{name_or_id!r} names {len(found)} of the cohorts {actor} may import into."
            )
        return found[0]
