"""Enrolment and risk assessment: the database side of the clinical rules."""

from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from simple_history.utils import get_change_reason_from_object

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


# No savepoint of its own: every caller's unit of work (an edit, an enrolment, a withdrawal)
# stands or falls whole, and an edit pays a round trip per savepoint statement.
@transaction.atomic(savepoint=False)
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
    created = _created_with_history(list(patients), by)
    for patient, profile in zip(created, profiles, strict=True):
        profile.patient = patient
        patient.profile = profile
    _created_with_history(list(profiles), by)
    reassess_and_replan(created, by=by)


def _created_with_history(objs: list, by) -> list:
    """simple_history's `bulk_create_with_history`, with the rows and their history rows
    written as arrays (`bulk_sql.writes`): for a thousand patients, Django's bulk_create
    of both costs more than all the planning. Each history row is what simple_history
    writes for a creation: the instance's tracked fields, "+", now, the user."""
    writes.create(objs)
    if not objs or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return objs
    history = type(objs[0]).history.model
    now, user = timezone.now(), by or history.get_default_history_user(objs[0])
    writes.insert_rows(
        history,
        [
            {field.attname: getattr(obj, field.attname) for field in history.tracked_fields}
            | {
                "history_date": now,
                "history_type": "+",
                "history_change_reason": get_change_reason_from_object(obj),
                "history_user_id": user.pk if user is not None else None,
            }
            for obj in objs
        ],
    )
    return objs
