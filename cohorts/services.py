"""Enrolment and risk assessment: the database side of the clinical rules."""

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from bulk_sql import writes

from . import messaging, risk
from .models import Patient, RiskAssessment, TumourProfile
from .signals import reassessed


def assess(patients: Sequence[Patient], by=None) -> None:
    """Run the risk rules; save an assessment wherever the outcome changed.

    The patients' profiles must be loaded (select_related("profile") when
    read from the database); the latest assessments are read in one query.
    """
    latest = _latest_assessments(patients)
    now = timezone.now()
    new, changed = [], []
    for patient in patients:
        outcome = risk.assess(patient.profile.as_rule_input())
        previous = latest.get(patient.pk)
        if previous is None or not previous.same_outcome(outcome):
            new.append(
                RiskAssessment(
                    patient=patient,
                    tier=outcome.tier.value,
                    reasons=list(outcome.reasons),
                    rule_version=outcome.rule_version,
                    assessed_at=now,
                    assessed_by=by,
                )
            )
        if patient.risk_tier != outcome.tier.value:
            patient.risk_tier = outcome.tier.value
            changed.append(patient)
    writes.insert(new)
    writes.update(changed, ["risk_tier"])


def _latest_assessments(patients: Sequence[Patient]) -> dict[int, RiskAssessment]:
    latest = {}
    assessments = RiskAssessment.objects.filter(patient__in=patients).order_by(
        "patient_id", "-assessed_at", "-id"
    )
    for assessment in assessments:
        latest.setdefault(assessment.patient_id, assessment)
    return latest


@transaction.atomic
def reassess_and_replan(patients: Sequence[Patient], by=None) -> None:
    """After any change to patients or profiles: new assessments, then new plans.

    A patient no longer followed up (withdrawn, deceased, moved) gets no more
    routine SMS: what is queued for them is cancelled now.
    """
    assess(patients, by=by)
    reassessed.send(sender=Patient, patients=list(patients))
    inactive = [patient.pk for patient in patients if not patient.is_active]
    if inactive:
        messaging.cancel_queued(inactive, "The patient is no longer followed up.")


@transaction.atomic
def enrol(patients: Sequence[Patient], profiles: Sequence[TumourProfile], by=None) -> None:
    """Create patients with their profiles, assess and plan them, in bulk.

    `profiles[i]` belongs to `patients[i]`; each patient has its contact.
    """
    for patient in patients:
        patient.site = patient.cohort.site
    created = bulk_create_with_history(patients, Patient, default_user=by)
    for patient, profile in zip(created, profiles, strict=True):
        profile.patient = patient
        patient.profile = profile
    bulk_create_with_history(profiles, TumourProfile, default_user=by)
    reassess_and_replan(created, by=by)
