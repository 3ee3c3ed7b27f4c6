"""Enrolment writes its rows and their history as arrays (`cohorts.services`): the history
must be what simple_history's own `bulk_create_with_history` writes."""

from datetime import date, time

import pytest
from django.forms.models import model_to_dict
from simple_history.utils import bulk_create_with_history

from cohorts import contacts, services
from cohorts.models import Patient, TumourProfile
from surveillance.demo import PROFILES
from tests.factories import CohortFactory, UserFactory

pytestmark = pytest.mark.django_db

# What differs between two creations of the same values: keys, times, the row itself.
UNCOMPARED = {"id", "history_id", "history_date", "patient", "mrn", "created_on", "modified_on"}


def unsaved(cohort, mrn: str) -> tuple[Patient, TumourProfile]:
    patient = Patient(
        cohort=cohort,
        first_name="Ada",
        last_name="Example",
        date_of_birth=date(1968, 3, 9),
        mrn=mrn,
        reminder_time=time(9, 30),
        enrolled_on=date(2026, 2, 1),
    )
    contacts.bind([patient], [{"number": f"+120155501{mrn[-2:]}"}])
    profile = TumourProfile(
        treatment_end_date=date(2026, 1, 15), histology="ductal", **PROFILES["high"]
    )
    return patient, profile


def history_of(instance) -> dict:
    row = instance.history.get()
    values = model_to_dict(row, exclude=UNCOMPARED)
    values.update(history_type=row.history_type, history_user=row.history_user_id)
    return values


def test_an_enrolled_patients_history_is_what_simple_history_writes():
    cohort, nurse = CohortFactory(), UserFactory()
    enrolled, enrolled_profile = unsaved(cohort, "MRN-0001")
    services.enrol([enrolled], [enrolled_profile], by=nurse)

    (library,) = bulk_create_with_history(
        [unsaved(cohort, "MRN-0002")[0]], Patient, default_user=nurse
    )
    library_profile = unsaved(cohort, "MRN-0003")[1]
    library_profile.patient = library
    bulk_create_with_history([library_profile], TumourProfile, default_user=nurse)

    mine = history_of(Patient.objects.get(pk=enrolled.pk))
    theirs = history_of(Patient.objects.get(pk=library.pk))
    # Enrolment then assesses the patient (its tier); the library's row was never assessed.
    assert mine | {"risk_tier": None} == theirs | {"risk_tier": None, "contact": mine["contact"]}
    assert history_of(enrolled.profile) == history_of(library_profile)
    assert mine["history_type"] == "+" and mine["history_user"] == nurse.pk
    assert Patient.history.get(id=enrolled.pk).history_change_reason is None
