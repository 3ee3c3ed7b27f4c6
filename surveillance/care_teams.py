"""Whose care team looks after a flag: its patient's cohort, or, while a flag raised
on a shared phone waits for its patient, the cohorts of every patient using that phone."""

import operator
from functools import reduce

from django.db.models import Exists, OuterRef, Q, QuerySet

from cohorts.models import Cohort, Patient

from .models import Flag
from .staff_mail import admins, coordinators_or_admins, reachable


def sharers(contact_id: int) -> QuerySet[Patient]:
    """The active patients who use this number."""
    return Patient.objects.filter(contact_id=contact_id, is_active=True)


def cohorts_of(flag: Flag) -> list[Cohort]:
    """The cohorts whose care teams look after this flag (none if its phone's patients left)."""
    if flag.patient_id is not None:
        return [flag.patient.cohort]
    ids = sharers(flag.message.contact_id).values("cohort_id")
    return list(Cohort.objects.filter(pk__in=ids).order_by("pk"))


def in_cohorts(cohorts) -> Q:
    """Flags of patients in `cohorts`, or waiting on a number one of their patients uses."""
    return reduce(operator.or_, cohort_parts(cohorts))


def cohort_parts(cohorts, *, every_cohort: bool = False) -> list[Q]:
    """`in_cohorts` as its two disjoint parts (`bulk_sql.parts`): the patients' flags, and
    those still waiting for a patient. As one OR, PostgreSQL hashed every patient of the
    clinic to answer it. With `every_cohort` (an admin's), every patient's flag is one of
    theirs: no join to the patients at all."""
    on_their_number = Exists(sharers(OuterRef("message__contact_id")).filter(cohort__in=cohorts))
    patients = Q(patient__isnull=False) if every_cohort else Q(patient__cohort__in=cohorts)
    return [patients, Q(on_their_number, patient__isnull=True)]


def coordinators(flag: Flag) -> list:
    """The coordinators of each cohort looking after the flag (or the admins), once each."""
    cohorts = cohorts_of(flag)
    if not cohorts:
        return admins()
    return reachable(user for cohort in cohorts for user in coordinators_or_admins(cohort))


def zone(flag: Flag) -> str:
    """The time zone its deadlines are shown in: its (first) cohort's site."""
    cohorts = cohorts_of(flag)
    return cohorts[0].timezone if cohorts else "UTC"
