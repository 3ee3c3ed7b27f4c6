"""Retention, with time frozen on either side of each period (the defaults: bodies after
730 days, identity and photos after 3650), counted from the withdrawal."""

import io
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from cohorts.models import Patient
from notifications.models import Contact, Message
from records import retention, withdrawal
from records.models import Erasure
from scheduling.models import Visit
from surveillance import lesions
from surveillance.models import Flag, LesionPhoto, LesionReport
from tests.factories import PatientFactory, outbound
from tests.records.helpers import flag_for, inbound
from tests.staff.helpers import signed_in

pytestmark = [pytest.mark.django_db]
WITHDRAWN = date(2026, 6, 1)
BODIES_DUE = WITHDRAWN + timedelta(days=730)
IDENTITY_DUE = WITHDRAWN + timedelta(days=3650)
WORDS = "The red spot near my scar bleeds, Ada"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def on(day: date):
    return time_machine.travel(datetime.combine(day, time(12), UTC))


def run(day: date, django_capture_on_commit_callbacks) -> dict:
    """A run of beat's task on `day`, its after-commit work (photo files) done too."""
    with on(day), django_capture_on_commit_callbacks(execute=True):
        return retention.apply()


def photo_of(flag) -> LesionPhoto:
    photo = LesionPhoto(report=flag.report, content_type="image/png", size=9)
    photo.image.save("photo", ContentFile(b"not a png"))
    return photo


@pytest.fixture
def withdrawn(alice, lead, patient):
    """Ada, with SMS both ways, a report in her words with a photo, withdrawn on 1 June 2026.

    Her flag was closed: nothing holds her record.
    """
    with on(date(2026, 5, 20)):
        outbound(patient, status="delivered")
        inbound(patient, WORDS)
        flag = flag_for(patient, note=WORDS)
        photo = photo_of(flag)
        lesions.resolve(flag, "benign", lead, note=f"Seen; {WORDS}")
        visit = patient.visits.order_by("due_date").first()
        visit.complete(by=alice, note=f"Came with her sister; {WORDS}")
    with on(WITHDRAWN):
        withdrawal.withdraw(patient, "moved_away", WITHDRAWN, by=alice)
    patient.photo = photo
    return patient


def snapshot(patient) -> dict:
    """What a run may change of the patient's record."""
    patient = Patient.objects.select_related("contact").get(pk=patient.pk)
    return {
        "patient": (patient.first_name, patient.last_name, patient.mrn, patient.date_of_birth),
        "erased_at": patient.erased_at,
        "history": sorted(
            patient.history.values_list("first_name", "last_name", "mrn", "date_of_birth")
        ),
        "phone": patient.contact.number,
        "messages": list(
            Message.objects.filter(patient=patient)
            .order_by("pk")
            .values_list("body", "status", "to_number", "from_number")
        ),
        "notes": [
            *LesionReport.objects.filter(patient=patient).values_list("note", flat=True),
            *patient.visits.exclude(note="").values_list("note", flat=True),
            *Visit.history.filter(patient_id=patient.pk, note__contains=WORDS).values_list(
                "note", flat=True
            ),
            *Flag.objects.filter(patient=patient).values_list("outcome_note", flat=True),
            *Flag.history.filter(patient_id=patient.pk, outcome_note__contains=WORDS).values_list(
                "outcome_note", flat=True
            ),
        ],
        "photos": list(
            LesionPhoto.objects.filter(report__patient=patient).values_list("erased_at", "image")
        ),
        "erasures": Erasure.objects.filter(patient=patient).count(),
        "audit": AuditEvent.objects.filter(patient_id=patient.pk).count(),
    }


def sides(patient, direction: str) -> list:
    """The patient's side of their SMS: the number each went to, or came from."""
    field = "to_number" if direction == "outbound" else "from_number"
    return list(
        Message.objects.filter(patient=patient, direction=direction).values_list("direction", field)
    )


def test_each_part_goes_the_day_after_its_period_and_not_the_day_before(
    withdrawn, alice, media_root, django_capture_on_commit_callbacks
):
    before = snapshot(withdrawn)
    photo_file = media_root / withdrawn.photo.image.name
    assert photo_file.exists()

    assert run(BODIES_DUE - timedelta(days=1), django_capture_on_commit_callbacks) == {
        "messages": 0,
        "photos": 0,
        "identity": 0,
    }
    assert snapshot(withdrawn) == before

    run(BODIES_DUE + timedelta(days=1), django_capture_on_commit_callbacks)

    bodies = snapshot(withdrawn)
    assert {body for body, *_ in bodies["messages"]} == {""}
    assert [rest for _, *rest in bodies["messages"]] == [rest for _, *rest in before["messages"]]
    assert {key: bodies[key] for key in ("patient", "history", "phone", "notes", "photos")} == {
        key: before[key] for key in ("patient", "history", "phone", "notes", "photos")
    }

    run(IDENTITY_DUE - timedelta(days=1), django_capture_on_commit_callbacks)

    assert snapshot(withdrawn)["patient"] == before["patient"]
    assert photo_file.exists()

    run(IDENTITY_DUE + timedelta(days=1), django_capture_on_commit_callbacks)

    erased = snapshot(withdrawn)
    pseudonym = f"erased:{withdrawn.contact_id}"
    assert erased["patient"] == ("Erased", "Patient", f"erased-{withdrawn.pk}", date(1970, 1, 1))
    assert erased["erased_at"] is not None
    assert set(erased["history"]) == {erased["patient"]}
    assert len(erased["history"]) == len(before["history"])  # rows kept, scrubbed
    assert erased["phone"] == pseudonym  # nobody else gives this number
    assert {to_number for direction, to_number in sides(withdrawn, "outbound")} == {pseudonym}
    assert {from_number for direction, from_number in sides(withdrawn, "inbound")} == {pseudonym}
    assert len(before["notes"]) >= 5 and all(WORDS in note for note in before["notes"])
    assert erased["notes"] == ["", ""]  # the report's and the flag's, emptied; no history left
    assert not photo_file.exists()
    [(photo_erased_at, image)] = erased["photos"]
    assert photo_erased_at is not None and image == ""
    assert signed_in(alice).get(f"/lesion-photos/{withdrawn.photo.pk}/").status_code == 410
    # Counts and statuses stay; the trail only grew, by one row per part, from the service.
    assert Message.objects.filter(patient=withdrawn).count() == len(before["messages"])
    assert erased["audit"] == before["audit"] + 3
    trail = AuditEvent.objects.filter(patient_id=withdrawn.pk, action="erase")
    assert sorted(trail.values_list("object_type", "user", "username")) == [
        ("lesion_photos", None, ""),
        ("messages", None, ""),
        ("patient", None, ""),
    ]
    assert {event.at.date() for event in trail} == {
        BODIES_DUE + timedelta(days=1),
        IDENTITY_DUE + timedelta(days=1),
    }

    # Idempotent: a second run finds nothing to do and writes nothing.
    assert run(IDENTITY_DUE + timedelta(days=2), django_capture_on_commit_callbacks) == {
        "messages": 0,
        "photos": 0,
        "identity": 0,
    }
    assert snapshot(withdrawn) == erased


def test_the_dry_run_lists_what_would_go_and_why_one_is_held_and_changes_nothing(
    withdrawn, cohort_a, lead, django_capture_on_commit_callbacks
):
    held = PatientFactory(cohort=cohort_a, first_name="Grace")
    flag = flag_for(held)
    with on(WITHDRAWN):
        withdrawal.withdraw(held, "deceased", WITHDRAWN)
    followed = PatientFactory(cohort=cohort_a, first_name="Edith")
    before = [snapshot(each) for each in (withdrawn, held, followed)]
    out = io.StringIO()

    with on(IDENTITY_DUE + timedelta(days=1)):
        call_command("apply_retention", "--dry-run", stdout=out)

    lines = out.getvalue().splitlines()
    sms = Message.objects.filter(patient=withdrawn).count()
    assert lines[0] == (
        f"patient {withdrawn.pk}: {sms} message bodies, 1 photo, "
        "identity (name, MRN, date of birth, phone, report notes)"
    )
    assert lines[1].startswith(
        f"patient {held.pk}: held, nothing erased while flag #{flag.pk} is unresolved"
    )
    assert f"patient {followed.pk}" not in out.getvalue()
    assert lines[-1] == "Dry run: 1 patient(s) would be erased, 1 held; nothing was changed."
    assert [snapshot(each) for each in (withdrawn, held, followed)] == before
    assert not AuditEvent.objects.filter(action="erase").exists()

    # Once the flag is closed, the next run erases the held patient too.
    lesions.resolve(flag, "patient_withdrawn", lead)
    run(IDENTITY_DUE + timedelta(days=1), django_capture_on_commit_callbacks)
    assert snapshot(held)["patient"][:2] == ("Erased", "Patient")


def test_an_open_flag_holds_everything_even_long_after_every_period(
    alice, patient, django_capture_on_commit_callbacks
):
    with on(date(2026, 5, 20)):
        inbound(patient, WORDS)
        flag = flag_for(patient, note=WORDS)
        photo_of(flag)
    with on(WITHDRAWN):
        withdrawal.withdraw(patient, "consent_withdrawn", WITHDRAWN, by=alice)
    before = snapshot(patient)

    assert run(IDENTITY_DUE + timedelta(days=400), django_capture_on_commit_callbacks) == {
        "messages": 0,
        "photos": 0,
        "identity": 0,
    }
    assert snapshot(patient) == before


def test_a_shared_phone_is_kept_while_another_patient_uses_it(
    withdrawn, cohort_a, django_capture_on_commit_callbacks
):
    number = withdrawn.phone
    sister = PatientFactory(cohort=cohort_a, first_name="Ida", phone=number)
    assert sister.contact_id == withdrawn.contact_id
    her_message = outbound(sister, status="delivered")

    run(IDENTITY_DUE + timedelta(days=1), django_capture_on_commit_callbacks)

    assert Patient.objects.get(pk=withdrawn.pk).erased_at is not None
    assert Contact.objects.get(pk=sister.contact_id).number == number
    assert Message.objects.get(pk=her_message.pk).to_number == number
    assert not Message.objects.filter(patient=withdrawn, to_number=number).exists()

    # When she is withdrawn and erased in turn, the phone goes too.
    with on(IDENTITY_DUE):
        withdrawal.withdraw(sister, "moved_away", IDENTITY_DUE)
    run(IDENTITY_DUE + timedelta(days=3651), django_capture_on_commit_callbacks)
    assert Contact.objects.get(pk=sister.contact_id).number == f"erased:{sister.contact_id}"


def test_a_run_killed_mid_batch_leaves_the_record_whole_and_the_next_run_finishes(
    withdrawn, alice, media_root, monkeypatch, django_capture_on_commit_callbacks
):
    run(BODIES_DUE + timedelta(days=1), django_capture_on_commit_callbacks)
    before = snapshot(withdrawn)

    def killed(*args):
        raise KeyboardInterrupt("the worker was killed")

    monkeypatch.setattr(retention, "_erase_contacts", killed)
    with pytest.raises(KeyboardInterrupt), on(IDENTITY_DUE + timedelta(days=1)):
        retention.apply()
    # Not half erased: who they are, as it was (the photos' batch had committed before).
    identity = ("patient", "erased_at", "history", "phone", "messages", "notes")
    after = snapshot(withdrawn)
    assert {key: after[key] for key in identity} == {key: before[key] for key in identity}
    assert not Erasure.objects.filter(patient=withdrawn, part="identity").exists()
    assert not AuditEvent.objects.filter(object_type="patient", action="erase").exists()
    monkeypatch.undo()

    # That run was killed after the photo rows committed, before their files went: the
    # photo is erased for everyone, its file left; the next run deletes it and goes on.
    assert LesionPhoto.objects.get(pk=withdrawn.photo.pk).erased_at is not None
    assert (media_root / withdrawn.photo.image.name).exists()
    assert signed_in(alice).get(f"/lesion-photos/{withdrawn.photo.pk}/").status_code == 410
    run(IDENTITY_DUE + timedelta(days=2), django_capture_on_commit_callbacks)
    assert not (media_root / withdrawn.photo.image.name).exists()
    assert snapshot(withdrawn)["patient"][0] == "Erased"


def test_erasure_is_set_based_its_queries_do_not_grow_with_the_patients(
    cohort_a, django_capture_on_commit_callbacks
):
    def queries_to_erase(count: int) -> int:
        patients = [PatientFactory(cohort=cohort_a) for _ in range(count)]
        for patient in patients:
            with on(date(2026, 5, 20)):
                outbound(patient, status="delivered")
                photo_of(flag_for(patient))
                Message.objects.filter(patient=patient).update(status="delivered")
        for flag_patient in patients:
            for flag in flag_patient.flags.all():
                lesions.resolve(flag, "benign", None)
        with on(WITHDRAWN):
            withdrawal.withdraw(patients, "moved_away", WITHDRAWN)
        with (
            on(IDENTITY_DUE + timedelta(days=1)),
            django_capture_on_commit_callbacks(execute=True),
            CaptureQueriesContext(connection) as captured,
        ):
            erased = retention.apply()
        assert erased == {"messages": count, "photos": count, "identity": count}
        return len(captured)

    assert queries_to_erase(2) == queries_to_erase(12)


def test_the_command_and_beats_task_apply_retention(
    withdrawn, settings, django_capture_on_commit_callbacks
):
    from records.tasks import apply_retention

    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "records.tasks.apply_retention" in schedule
    with on(BODIES_DUE + timedelta(days=1)):
        assert apply_retention() == {"messages": 1, "photos": 0, "identity": 0}
    out = io.StringIO()
    with on(IDENTITY_DUE + timedelta(days=1)), django_capture_on_commit_callbacks(execute=True):
        call_command("apply_retention", stdout=out)
    assert "Identity and free text: erased for 1 patient(s)" in out.getvalue()
    assert Patient.objects.get(pk=withdrawn.pk).first_name == "Erased"
