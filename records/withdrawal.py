"""Withdrawal from follow-up: consent withdrawn, moved away, deceased.

Reminders stop at once: the patients go through `reassess_and_replan`, which
cancels the routine SMS still queued about them and (through the
`reassessed` signal) retires their reminder series and the visits still
only planned. Their unresolved flags stay open: a coordinator closes them,
with the outcome "patient withdrawn" if nothing else applies. Retention
(`records.retention`) counts its periods from `withdrawn_on`.
"""

from collections.abc import Iterable
from datetime import date

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from cohorts import services, site_days
from cohorts.models import Patient

Reason = Patient.WithdrawalReason

FIELDS = ["is_active", "withdrawn_on", "withdrawal_reason", "modified_on"]


class WithdrawalRefused(Exception):
    """The patients' state refuses the withdrawal (an erased record); nothing changed."""


def withdraw(patients: Patient | Iterable[Patient], reason: str, on: date, by=None) -> list:
    """Withdraw the patients from follow-up on `on` (not after the site's today), in bulk.

    Raises ValueError for an unknown reason or a date to come, and
    WithdrawalRefused when a record was already erased; then nothing changes.
    Returns the patients as saved.
    """
    if reason not in Reason.values:
        raise ValueError(f"Unknown withdrawal reason {reason!r}.")
    ids = [patients.pk] if isinstance(patients, Patient) else [p.pk for p in patients]
    with transaction.atomic():
        locked = list(
            Patient.objects.select_for_update(of=("self",))
            .select_related("cohort", "contact", "profile")
            .filter(pk__in=ids)
            .order_by("pk")
        )
        for patient in locked:
            _check(patient, on)
        moment = timezone.now()
        for patient in locked:
            patient.is_active, patient.withdrawn_on, patient.withdrawal_reason = False, on, reason
            patient.modified_on = moment
        bulk_update_with_history(locked, Patient, FIELDS, default_user=by)
        services.reassess_and_replan(locked, by=by)
    return locked


def _check(patient: Patient, on: date) -> None:
    if patient.erased_at is not None:
        raise WithdrawalRefused(f"The record of patient {patient.pk} was erased.")
    if on > site_days.today(patient.cohort):
        raise ValueError("A withdrawal cannot be dated in the future.")
