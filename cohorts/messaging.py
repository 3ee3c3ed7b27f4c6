"""SMS about patients: written to their phone's contact, with the patient as subject.

Also what the SMS layer asks of us (`notifications.hooks`): who a number
belongs to, and whether a message about a patient is still wanted when it is
about to go.
"""

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.contrib.contenttypes.models import ContentType

from notifications import hooks, outbox
from notifications.models import Contact, Message

from .models import Patient


def build(patient: Patient, kind: str, key: str, **options) -> Message:
    """An unsaved outbound message about `patient`, in their phone's language."""
    return outbox.build(
        patient.contact, kind, key, subject=patient, site=patient.cohort.site, **options
    )


@dataclass(frozen=True, slots=True)
class Addressee:
    """What writing an SMS about a patient needs of them and their phone, as plain values.

    A sweep reads these for hundreds of due rows at once as values through the
    row's `patient` (`addressee_paths`), where loading each patient, cohort and
    contact as a model costs more than all the rest of the batch.
    """

    patient_id: int
    is_active: bool
    paused_until: date | None
    site: str
    contact_id: int
    number: str
    language: str
    timezone: str
    sms_consent: bool
    opted_out_at: datetime | None

    def can_be_texted_on(self, day: date) -> bool:
        """Followed up, consenting, not opted out, and reminders not paused on `day`."""
        return (
            self.is_active
            and self.sms_consent
            and self.opted_out_at is None
            and not (self.paused_until is not None and day <= self.paused_until)
        )

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def message(self, kind: str, key: str, **options) -> dict:
        """An outbound message's values about this patient (`notifications.outbox.fields`)."""
        return outbox.fields(
            self.contact_id,
            self.number,
            self.language,
            kind,
            key,
            subject_type_id=_patient_type().pk,
            subject_id=self.patient_id,
            site=self.site,
            **options,
        )


_ADDRESSEE_PATHS = {
    "patient_id": "id",
    "is_active": "is_active",
    "paused_until": "reminders_paused_until",
    "site": "cohort__site",
    "contact_id": "contact_id",
    "number": "contact__number",
    "language": "contact__language",
    "timezone": "contact__timezone",
    "sms_consent": "contact__sms_consent",
    "opted_out_at": "contact__opted_out_at",
}


def addressee_paths(through: str = "patient") -> list[str]:
    """What `values_list` loads an `Addressee` from, through a row's `through` relation, in
    the order `Addressee(*values)` takes."""
    return [f"{through}__{_ADDRESSEE_PATHS[field.name]}" for field in dataclass_fields(Addressee)]


def queue(patient: Patient, kind: str, key: str, **options) -> Message:
    """Queue one message about `patient` (once per key) and wake a dispatcher after commit."""
    return outbox.queue_built(build(patient, kind, key, **options))


def cancel_queued(patients, reason: str) -> int:
    """Cancel the routine SMS still queued about these patients (replies may still go)."""
    return Message.objects.filter(
        patient__in=patients,
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.QUEUED,
        is_reply=False,
    ).update(status=Message.Status.CANCELLED, error=reason, send_after=None)


def patient_of(message: Message) -> Patient | None:
    """The patient a message is about, or None (a staff alert, an unknown number)."""
    if message.subject_id is None or message.subject_type_id != _patient_type().pk:
        return None
    return Patient.objects.select_related("cohort", "contact").filter(pk=message.subject_id).first()


def _patient_type() -> ContentType:
    return ContentType.objects.get_for_model(Patient)


@hooks.identifies_senders
def sender(contact: Contact) -> hooks.Sender | None:
    """The number's one active patient, and their care team; a shared number has no subject."""
    patients = list(
        Patient.objects.filter(contact=contact, is_active=True).select_related("cohort")[:2]
    )
    if not patients:
        return None
    cohorts = {patient.cohort_id: patient.cohort for patient in patients}
    cohort = next(iter(cohorts.values())) if len(cohorts) == 1 else None
    return hooks.Sender(
        subject=patients[0] if len(patients) == 1 else None,
        site=cohort.site if cohort else "",
        help_phone=cohort.contact_phone if cohort else "",
    )


@hooks.checks_sends
def still_wanted(messages: list[Message]) -> dict[int, hooks.SendCheck]:
    """A patient who left follow-up gets nothing more; a pause holds routine messages."""
    patient_type = _patient_type().pk
    about = {m.pk: m.subject_id for m in messages if m.subject_type_id == patient_type}
    patients = Patient.objects.only("is_active", "reminders_paused_until").in_bulk(
        set(about.values())
    )
    return {
        message_id: _still_wanted(patients[patient_id])
        for message_id, patient_id in about.items()
        if patient_id in patients
    }


def _still_wanted(patient: Patient) -> hooks.SendCheck:
    if not patient.is_active:
        return hooks.SendCheck(cancel="The patient is no longer followed up.")
    return hooks.SendCheck(paused_until=patient.reminders_paused_until)
