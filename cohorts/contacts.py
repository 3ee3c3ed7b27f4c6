"""Patients' phones: the contact of a number, found or made, with what staff said of it.

Consent, opt-out, language and time zone belong to the number (the SMS
layer's `Contact`); enrolment and edits of a patient write them there. Two
patients giving the same number share one contact, and so one truth about it.
"""

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from bulk_sql import writes
from notifications.models import ConsentSource, Contact

from . import services
from .models import Patient

# What a patient's form or import row may say about their phone.
DETAILS = ("timezone", "language", "sms_consent")


@transaction.atomic  # a number's new zone and its other patients' re-plans: both or neither
def bind(
    patients: Sequence[Patient],
    details: Sequence[dict],
    source: str = ConsentSource.STAFF,
    default_timezone: str = "",
) -> None:
    """Give each patient the contact of `details[i]["number"]`, updated with the rest.

    New numbers get `default_timezone` (the cohort's) unless a zone is given.
    One query to find the numbers, one to add the new ones, one to update.
    """
    numbers = {detail["number"] for detail in details}
    new = numbers - set(Contact.objects.filter(number__in=numbers).values_list("number", flat=True))
    Contact.objects.bulk_create([Contact(number=number) for number in new], ignore_conflicts=True)
    found = Contact.objects.in_bulk(numbers, field_name="number")
    zones = {contact.pk: contact.timezone for contact in found.values()}
    changed = set()
    for patient, detail in zip(patients, details, strict=True):
        contact = found[detail["number"]]
        wanted = {key: detail[key] for key in DETAILS if key in detail}
        if "timezone" not in wanted and default_timezone and contact.number in new:
            wanted["timezone"] = default_timezone
        if _apply(contact, wanted, source):
            changed.add(contact.pk)
        patient.contact = contact
    writes.update(
        [contact for contact in found.values() if contact.pk in changed],
        [*DETAILS, "sms_consent_at", "sms_consent_source"],
    )
    moved = {contact.pk for contact in found.values() if contact.timezone != zones[contact.pk]}
    _replan_sharers(moved, patients)


def _replan_sharers(contact_ids: set[int], patients: Sequence[Patient]) -> None:
    """A number's time zone is the zone of every patient on it: when it changes, the
    patients already on that number are re-planned too, so that their reminders go at
    their reminder time in the new zone, not the old one's (`patients`, being enrolled
    or edited, are planned by their caller)."""
    if not contact_ids:
        return
    sharers = (
        Patient.objects.filter(contact_id__in=contact_ids, is_active=True)
        .exclude(pk__in=[patient.pk for patient in patients if patient.pk])
        .select_related("profile")
    )
    services.reassess_and_replan(list(sharers))


def _apply(contact: Contact, wanted: dict, source: str) -> bool:
    """Set what differs; consent given records when and how, withdrawn clears both."""
    changed = False
    for key, value in wanted.items():
        if getattr(contact, key) == value:
            continue
        setattr(contact, key, value)
        changed = True
        if key == "sms_consent":
            contact.sms_consent_at = timezone.now() if value else None
            contact.sms_consent_source = (source or ConsentSource.STAFF) if value else ""
    return changed
