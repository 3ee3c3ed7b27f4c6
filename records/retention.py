"""Retention: what is kept of a withdrawn patient, and for how long.

Three parts of the record go, each a number of days after `withdrawn_on`
(settings `RETAIN_*_DAYS`, see docs/retention.md):

- **message bodies** (`messages`): the text of every SMS about the patient
  becomes "". The rows stay, with their kind, status and times: counts hold.
- **photos** (`photos`): lesion photos are marked erased (their route answers
  410) and their files deleted.
- **identity** (`identity`): name, MRN and date of birth (kept as 1 January
  of the birth year, so ages still count), in the patient's history rows too;
  the free text of their lesion reports, visit notes and review outcome notes
  (with their history rows); their message bodies (if still
  there); the numbers on their messages; and their phone's `Contact`, once no
  patient who is not erased uses it (with the bodies of the phone's messages
  that had no patient).

A patient with an unresolved flag (theirs, or one raised on a message from
their phone before it had a patient) keeps everything until it is closed.

Each batch of patients is erased in one transaction, with its `Erasure` rows
and audit rows, by set-based UPDATEs: a worker killed mid-way leaves each
patient as before or erased, and the next run takes up the rest. Photo files
are deleted after their rows commit as erased; a file left behind by a kill
is deleted by the next run (`finish_photo_files`).
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat, TruncYear
from django.utils import timezone

from audit import trail
from cohorts.models import Patient
from notifications.models import Contact, Message
from scheduling.models import Visit
from surveillance.models import Flag, LesionPhoto, LesionReport

from .models import Erasure

Part = Erasure.Part
BATCH_SIZE = 500
ERASED_FIRST_NAME, ERASED_LAST_NAME = "Erased", "Patient"
# Parts in the order a run takes them: identity last, so that with equal periods
# the bodies and photos are counted under their own part.
SETTINGS = {
    Part.MESSAGES: "RETAIN_MESSAGE_BODIES_DAYS",
    Part.PHOTOS: "RETAIN_PHOTOS_DAYS",
    Part.IDENTITY: "RETAIN_IDENTITY_DAYS",
}
AUDITED_AS = {Part.MESSAGES: "messages", Part.PHOTOS: "lesion_photos", Part.IDENTITY: "patient"}


def days(part: str) -> int:
    return getattr(settings, SETTINGS[part])


def due(part: str, today: date) -> QuerySet[Patient]:
    """Patients withdrawn long enough ago for `part` to go, who still have it (held or not)."""
    done = Erasure.objects.filter(
        patient=OuterRef("pk"), part=part, withdrawn_on=OuterRef("withdrawn_on")
    )
    patients = Patient.objects.filter(
        is_active=False, withdrawn_on__lte=today - timedelta(days=days(part))
    ).exclude(Exists(done))
    if part == Part.MESSAGES:
        patients = patients.filter(erased_at__isnull=True)  # identity took the bodies along
    return patients


def held() -> Q:
    """Patients with an unresolved flag: theirs, or one still without a patient that may be
    theirs (they are among its candidates: it came from a phone they used)."""
    theirs = Flag.objects.filter(patient=OuterRef("pk"), status__in=Flag.UNRESOLVED)
    maybe_theirs = _waiting(Flag.candidates.through.objects.filter(patient=OuterRef("pk")))
    return Q(Exists(theirs)) | Q(Exists(maybe_theirs))


def _waiting(candidacies: QuerySet) -> QuerySet:
    """Candidacies (`Flag.candidates`) of flags unresolved and still without a patient."""
    return candidacies.filter(flag__patient__isnull=True, flag__status__in=Flag.UNRESOLVED)


# --- What each part erases: the patients' ids in, the rows erased per patient out --------


def _messages_about(ids) -> QuerySet[Message]:
    patient_type = ContentType.objects.get_for_model(Patient)
    return Message.objects.filter(subject_type=patient_type, subject_id__in=ids)


def _per_patient(rows: QuerySet, key: str) -> Counter:
    return Counter(dict(rows.values_list(key).annotate(n=Count("pk")).order_by()))


def _erase_bodies(ids) -> Counter:
    kept = _messages_about(ids).exclude(body="")
    counts = _per_patient(kept, "subject_id")
    kept.update(body="")
    return counts


def _erase_photos(ids, now) -> Counter:
    photos = LesionPhoto.objects.filter(report__patient_id__in=ids, erased_at__isnull=True)
    counts = _per_patient(photos, "report__patient_id")
    # A join in an UPDATE: Django makes it "WHERE id IN (SELECT ...)", one statement.
    photos.update(erased_at=now)
    transaction.on_commit(finish_photo_files)
    return counts


def _pseudonym(prefix: str, pk: str) -> Concat:
    return Concat(Value(prefix), Cast(pk, CharField()))


def _erase_identity(ids, now) -> Counter:
    counts = _erase_bodies(ids)
    scrubbed = {
        "first_name": ERASED_FIRST_NAME,
        "last_name": ERASED_LAST_NAME,
        "mrn": _pseudonym("erased-", "id"),  # unique per site, as MRNs must be
        "date_of_birth": TruncYear("date_of_birth"),
    }
    Patient.objects.filter(pk__in=ids).update(**scrubbed, erased_at=now, modified_on=now)
    Patient.history.filter(id__in=ids).update(**scrubbed)
    _erase_free_text(ids)
    _erase_numbers(_messages_about(ids))
    _erase_contacts(ids, now)
    return counts


def _erase_free_text(ids) -> None:
    """What staff or the patient wrote about them: report, visit and review notes."""
    LesionReport.objects.filter(patient_id__in=ids).exclude(note="").update(note="")
    Visit.objects.filter(patient_id__in=ids).exclude(note="").update(note="")
    Visit.history.filter(patient_id__in=ids).exclude(note="").update(note="")
    Flag.objects.filter(patient_id__in=ids).exclude(outcome_note="").update(outcome_note="")
    Flag.history.filter(patient_id__in=ids).exclude(outcome_note="").update(outcome_note="")


def _erase_numbers(messages: QuerySet[Message]) -> None:
    """The patient's side of each SMS: the number it went to, or came from."""
    on_a_phone = messages.filter(contact__isnull=False)
    pseudonym = _pseudonym("erased:", "contact_id")
    on_a_phone.filter(direction=Message.Direction.OUTBOUND).update(to_number=pseudonym)
    on_a_phone.filter(direction=Message.Direction.INBOUND).update(from_number=pseudonym)


def _erase_contacts(ids, now) -> None:
    """Their phones, unless a patient who is not erased still gives that number."""
    still_used = Patient.objects.filter(contact=OuterRef("pk"), erased_at__isnull=True).exclude(
        pk__in=ids
    )
    # Their phone now, and any they had before (their SMS name it).
    theirs = Contact.objects.filter(
        Q(pk__in=Patient.objects.filter(pk__in=ids).values("contact_id"))
        | Q(pk__in=_messages_about(ids).values("contact_id"))
    ).exclude(number__startswith="erased:")
    contacts = list(theirs.exclude(Exists(still_used)).values_list("pk", flat=True))
    if not contacts:
        return
    unassigned = Message.objects.filter(contact__in=contacts, subject_id__isnull=True)
    unassigned.exclude(body="").update(body="")
    _erase_numbers(unassigned)
    Contact.objects.filter(pk__in=contacts).update(
        number=_pseudonym("erased:", "id"), sms_consent=False, modified_on=now
    )


ERASERS = {
    Part.MESSAGES: lambda ids, now: _erase_bodies(ids),
    Part.PHOTOS: _erase_photos,
    Part.IDENTITY: _erase_identity,
}


# --- Runs ---------------------------------------------------------------------------------


def apply(today: date | None = None) -> dict[str, int]:
    """Erase every part that is due, batch by batch; returns the patients erased per part."""
    today = today or timezone.localdate()
    finish_photo_files()
    return {part: _apply_part(part, today) for part in SETTINGS}


def _apply_part(part: str, today: date) -> int:
    erased, after = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                due(part, today)
                .exclude(held())
                .filter(pk__gt=after)
                .order_by("pk")
                .select_for_update(skip_locked=True)
                .only("pk", "withdrawn_on")[:BATCH_SIZE]
            )
            if not batch:
                return erased
            _erase(part, batch, timezone.now())
        erased += len(batch)
        after = batch[-1].pk


def _erase(part: str, batch: list[Patient], now) -> None:
    ids = [patient.pk for patient in batch]
    counts = ERASERS[part](ids, now)
    Erasure.objects.bulk_create(
        Erasure(
            patient_id=patient.pk,
            part=part,
            withdrawn_on=patient.withdrawn_on,
            erased_at=now,
            count=counts[patient.pk],
        )
        for patient in batch
    )
    trail.record_rows(
        trail.system_request(None, "records.retention"),
        trail.Action.ERASE,
        [(pk, pk) for pk in ids],
        AUDITED_AS[part],
        f"retention: {SETTINGS[part]}={days(part)} days after withdrawal",
    )


def finish_photo_files() -> int:
    """Delete the files of photos marked erased whose file is still there; returns how many."""
    deleted = 0
    while True:
        left = list(
            LesionPhoto.objects.filter(erased_at__isnull=False)
            .exclude(image="")
            .values_list("pk", "image")[:BATCH_SIZE]
        )
        if not left:
            return deleted
        for _, name in left:
            default_storage.delete(name)  # a file already gone is not an error
        LesionPhoto.objects.filter(pk__in=[pk for pk, _ in left]).update(image="")
        deleted += len(left)


# --- The dry run ---------------------------------------------------------------------------


@dataclass
class Pending:
    """What the next run would erase of one patient, or why it is held."""

    patient_id: int
    parts: dict[str, int] = field(default_factory=dict)  # part -> rows (identity: 1)
    held_by: list[int] = field(default_factory=list)  # unresolved flags' ids


def preview(today: date | None = None) -> list[Pending]:
    """What `apply(today)` would erase now, per patient, changing nothing."""
    today = today or timezone.localdate()
    pending: dict[int, Pending] = {}
    for part in SETTINGS:
        ids = list(due(part, today).order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start : start + BATCH_SIZE]
            counts = _would_erase(part, chunk)
            for pk in chunk:
                pending.setdefault(pk, Pending(pk)).parts[part] = counts[pk]
    _note_holds(pending)
    return sorted(pending.values(), key=lambda each: each.patient_id)


def _would_erase(part: str, ids) -> Counter:
    if part == Part.IDENTITY:
        return Counter(dict.fromkeys(ids, 1))
    if part == Part.PHOTOS:
        photos = LesionPhoto.objects.filter(report__patient_id__in=ids, erased_at__isnull=True)
        return _per_patient(photos, "report__patient_id")
    return _per_patient(_messages_about(ids).exclude(body=""), "subject_id")


def _note_holds(pending: dict[int, Pending]) -> None:
    ids = list(pending)
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        patients = Patient.objects.filter(pk__in=chunk).filter(held())
        for pk in patients.values_list("pk", flat=True):
            theirs = Flag.objects.filter(patient_id=pk, status__in=Flag.UNRESOLVED)
            maybe = _waiting(Flag.candidates.through.objects.filter(patient_id=pk))
            flag_ids = {
                *theirs.values_list("pk", flat=True),
                *maybe.values_list("flag_id", flat=True),
            }
            pending[pk].held_by = sorted(flag_ids)
