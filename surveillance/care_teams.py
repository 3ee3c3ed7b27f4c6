"""Whose care team looks after a flag: its patient's cohort, or, while a flag raised
on a shared phone waits for its patient, the cohorts of every patient who used that phone
when it was raised (its `candidates`)."""

import operator
from functools import reduce

from django.db.models import Exists, OuterRef, Q, QuerySet

from cohorts.access import patients_for
from cohorts.models import Cohort, Patient

from .models import Flag
from .staff_mail import admins, coordinators_or_admins, reachable


def sharers(contact_id: int) -> QuerySet[Patient]:
    """The active patients who use this number."""
    return Patient.objects.filter(contact_id=contact_id, is_active=True)


def cohorts_of(flag: Flag) -> list[Cohort]:
    """The cohorts whose care teams look after this flag."""
    if flag.patient_id is not None:
        return [flag.patient.cohort]
    ids = flag.candidates.values("cohort_id")
    return list(Cohort.objects.filter(pk__in=ids).order_by("pk"))


def candidates(flag: Flag, user) -> QuerySet[Patient]:
    """Those of the user's patients whom a flag still waiting may be assigned to."""
    if flag.patient_id is not None:
        return Patient.objects.none()
    return patients_for(user).filter(pk__in=flag.candidates.values("pk"))


def in_cohorts(cohorts) -> Q:
    """Flags of patients in `cohorts`, or waiting on a phone one of their patients used."""
    return reduce(operator.or_, cohort_parts(cohorts))


def cohort_parts(cohorts, *, every_cohort: bool = False) -> list[Q]:
    """`in_cohorts` as its two disjoint parts (`bulk_sql.parts`): the patients' flags, and
    those still waiting for a patient. As one OR, PostgreSQL hashed every patient of the
    clinic to answer it. With `every_cohort` (an admin's), every patient's flag is one of
    theirs: no join to the patients at all."""
    candidate = Flag.candidates.through.objects.filter(
        flag_id=OuterRef("pk"), patient__cohort__in=cohorts
    )
    patients = Q(patient__isnull=False) if every_cohort else Q(patient__cohort__in=cohorts)
    return [patients, Q(Exists(candidate), patient__isnull=True)]


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
