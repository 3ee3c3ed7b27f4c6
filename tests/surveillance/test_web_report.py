"""Lesion reports on the web: the patient's one-time link, private photos, staff entry."""

import importlib
import io
import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone
from PIL import Image

from audit.models import AuditEvent
from notifications.sms_templates import DIAGNOSIS_WORDS
from surveillance import forms as lesion_forms
from surveillance.models import Flag, LesionPhoto, LesionReport, ReportLink
from surveillance.triage import QUESTIONS
from surveillance.web_reports import claim_link, submit_web_report
from tests.factories import CohortFactory, PatientFactory

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

# Two red flags (near the scar, firm lump): urgent.
URGENT = {
    "location": "near_scar",
    "onset": "gradual",
    "feel": "firm_lump",
    "colour": "skin",
    "itch": "yes",
    "pain": "no",
    "bleeding": "no",
    "count": "one",
    "duration": "under_two_weeks",
}
# No red flag at all: routine.
ROUTINE = {**URGENT, "location": "elsewhere", "feel": "flat"}


# --- Fixtures and helpers ---------------------------------------------------------------


def ensure_default_protocol() -> None:
    """The data migration's protocol: a `transactional_db` flush of an earlier test drops it."""
    migration = importlib.import_module("scheduling.migrations.0001_initial")
    migration.load_default_protocol(apps, None)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def patient(alice):
    cohort = CohortFactory(name="Cohort A", site="North Hospital", coordinators=[alice])
    return PatientFactory(cohort=cohort, first_name="Rosalind", last_name="Example", mrn="MRN-A1")


@pytest.fixture
def other_patient(bob):
    cohort = CohortFactory(name="Cohort B", site="South Hospital", coordinators=[bob])
    return PatientFactory(cohort=cohort, first_name="Beatrix", last_name="Other", mrn="MRN-B1")


def make_link(patient, hours=72) -> ReportLink:
    return ReportLink.objects.create(
        patient=patient, expires_at=timezone.now() + timedelta(hours=hours)
    )


@pytest.fixture
def link(patient):
    return make_link(patient)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user, backend=MODEL_BACKEND)
    return client


def png(name="spot.png", size=(40, 30)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (220, 120, 130)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def media_files(media_root) -> list:
    return [path for path in media_root.rglob("*") if path.is_file()] if media_root.exists() else []


def assert_nothing_saved(link, media_root):
    link.refresh_from_db()
    assert link.used_at is None and link.report_id is None
    assert LesionReport.objects.count() == 0
    assert Flag.objects.count() == 0
    assert LesionPhoto.objects.count() == 0
    assert media_files(media_root) == []


# --- The patient's form -----------------------------------------------------------------


@pytest.mark.django_db
def test_it_shows_the_questions_without_the_patients_name(client, link, patient):
    response = client.get(f"/r/{link.nonce}/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Your care team at North Hospital" in body
    for secret in ("Rosalind", "Example", "MRN-A1", patient.phone):
        assert secret not in body
    for question in QUESTIONS:
        assert f'name="{question}"' in body
    assert 'type="file"' in body and 'enctype="multipart/form-data"' in body
    assert 'name="patient' not in body
    # Works under the site's CSP: no inline scripts or styles.
    assert "<script" not in body and "<style" not in body and "style=" not in body
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "neutral"), [("en", "your clinic"), ("es", "su centro")])
def test_a_site_name_that_names_a_diagnosis_is_not_shown(client, patient, language, neutral):
    # Stored before the site's name was checked where it is entered (a 400 since).
    type(patient.cohort).objects.filter(pk=patient.cohort_id).update(site="Breast Oncology Centre")
    patient.contact.language = language
    patient.contact.save()

    body = client.get(f"/r/{make_link(patient).nonce}/").content.decode()

    assert neutral in body
    assert "Breast" not in body and "Oncology" not in body


@pytest.mark.django_db
def test_it_speaks_the_patients_language(client, patient):
    patient.contact.language = "es"
    patient.contact.save()
    link = make_link(patient)

    body = client.get(f"/r/{link.nonce}/").content.decode()

    assert '<html lang="es">' in body
    assert "Su equipo de atención de North Hospital" in body
    assert "Cerca de mi cicatriz" in body and "No lo sé" in body


@pytest.mark.django_db
def test_it_records_a_valid_submission_as_an_urgent_flag_and_spends_the_link(client, link, patient):
    response = client.post(f"/r/{link.nonce}/", {**URGENT, "note": "Since Monday."})

    assert response.status_code == 302
    assert response["Location"] == f"/r/{link.nonce}/thanks/"
    [report] = LesionReport.objects.all()
    assert (report.patient, report.channel, report.complete) == (patient, "web", True)
    assert report.answers == URGENT
    assert report.note == "Since Monday."
    assert report.flag.urgency == "urgent"
    assert "2 red flags" in report.flag.reasons
    link.refresh_from_db()
    assert link.used_at is not None and link.report == report

    thanks = client.get(response["Location"])
    assert thanks.status_code == 200
    assert "Thank you" in thanks.content.decode()
    assert "North Hospital" not in thanks.content.decode()


@pytest.mark.django_db
def test_it_records_unanswered_questions_as_an_incomplete_report(client, link):
    response = client.post(f"/r/{link.nonce}/", {"location": "elsewhere", "itch": ""})

    assert response.status_code == 302
    [report] = LesionReport.objects.all()
    assert report.answers == {"location": "elsewhere"}
    assert report.complete is False
    assert report.flag.urgency == "routine"
    assert "Questionnaire not finished: answers are partial" in report.flag.reasons


@pytest.mark.django_db
def test_it_refuses_an_answer_outside_the_questionnaire(client, link, media_root):
    response = client.post(f"/r/{link.nonce}/", {**ROUTINE, "location": "on_the_moon"})

    assert response.status_code == 200
    assert response.context["form"].errors["location"]
    assert_nothing_saved(link, media_root)


@pytest.mark.django_db
def test_it_answers_410_to_a_used_link_and_records_nothing_more(client, link):
    assert client.post(f"/r/{link.nonce}/", ROUTINE).status_code == 302

    again = client.post(f"/r/{link.nonce}/", URGENT)
    shown = client.get(f"/r/{link.nonce}/")

    assert again.status_code == 410 and shown.status_code == 410
    assert "already been used" in shown.content.decode()
    assert "North Hospital" not in shown.content.decode()
    assert LesionReport.objects.count() == 1
    assert LesionReport.objects.get().answers == ROUTINE


@pytest.mark.django_db
def test_it_answers_410_to_an_expired_link(client, link):
    with time_machine.travel(link.expires_at + timedelta(seconds=1)):
        shown = client.get(f"/r/{link.nonce}/")
        posted = client.post(f"/r/{link.nonce}/", URGENT)

    assert shown.status_code == 410 and posted.status_code == 410
    body = shown.content.decode()
    assert "expired" in body
    assert "North Hospital" not in body and "Rosalind" not in body
    assert LesionReport.objects.count() == 0
    link.refresh_from_db()
    assert link.used_at is None


@pytest.mark.django_db
def test_it_still_takes_a_link_just_before_it_expires(client, link):
    with time_machine.travel(link.expires_at - timedelta(seconds=5)):
        assert client.post(f"/r/{link.nonce}/", ROUTINE).status_code == 302
    assert LesionReport.objects.count() == 1


@pytest.mark.django_db
def test_it_answers_404_to_an_unknown_nonce(client, link):
    for method in (client.get, client.post):
        response = method("/r/0123456789abcdef0123456789abcdef/")
        assert response.status_code == 404
        assert "North Hospital" not in response.content.decode()
    assert client.get(f"/r/{link.nonce}/thanks/").status_code == 404  # not used yet
    assert LesionReport.objects.count() == 0


@pytest.mark.django_db
def test_it_records_reports_only_for_the_links_own_patient(client, link, patient, other_patient):
    response = client.post(
        f"/r/{link.nonce}/",
        {**ROUTINE, "patient": other_patient.pk, "patient_id": other_patient.pk},
    )

    assert response.status_code == 302
    assert LesionReport.objects.get().patient == patient
    assert not LesionReport.objects.filter(patient=other_patient).exists()


@pytest.mark.django_db
def test_it_refuses_an_oversized_photo_and_saves_nothing(client, link, media_root, settings):
    big = png(size=(400, 400))
    settings.LESION_PHOTO_MAX_BYTES = big.size - 1

    response = client.post(f"/r/{link.nonce}/", {**URGENT, "photos": [big]})

    assert response.status_code == 200
    [error] = response.context["form"].errors["photos"]
    assert "too large" in error and "spot.png" in error
    assert "too large" in response.content.decode()
    assert_nothing_saved(link, media_root)


@pytest.mark.django_db
def test_it_refuses_a_text_file_named_jpg_and_saves_nothing(client, link, media_root):
    fake = SimpleUploadedFile("rash.jpg", b"not a photo at all\n" * 20, content_type="image/jpeg")

    response = client.post(f"/r/{link.nonce}/", {**URGENT, "photos": [png(), fake]})

    assert response.status_code == 200
    [error] = response.context["form"].errors["photos"]
    assert "rash.jpg" in error and "not a photo we can open" in error
    assert_nothing_saved(link, media_root)


@pytest.mark.django_db
def test_it_refuses_an_image_of_another_type_and_saves_nothing(client, link, media_root):
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    gif = SimpleUploadedFile("spot.png", buffer.getvalue(), content_type="image/png")

    response = client.post(f"/r/{link.nonce}/", {**URGENT, "photos": [gif]})

    assert response.status_code == 200
    assert "not a photo we can open" in response.context["form"].errors["photos"][0]
    assert_nothing_saved(link, media_root)


@pytest.mark.django_db
def test_it_refuses_more_than_three_photos(client, link, media_root):
    photos = [png(f"spot{n}.png") for n in range(4)]

    response = client.post(f"/r/{link.nonce}/", {**URGENT, "photos": photos})

    assert response.status_code == 200
    assert "at most 3 photos" in response.context["form"].errors["photos"][0]
    assert_nothing_saved(link, media_root)


@pytest.mark.django_db
def test_it_saves_a_valid_png_privately_and_serves_it_only_to_the_patients_team(
    client, link, patient, alice, bob, media_root
):
    assert client.post(f"/r/{link.nonce}/", {**ROUTINE, "photos": [png()]}).status_code == 302

    [photo] = LesionPhoto.objects.all()
    with photo.image.open("rb") as stored:
        content = stored.read()  # re-encoded without metadata
    assert photo.report.patient == patient
    assert (photo.content_type, photo.size) == ("image/png", len(content))
    assert photo.image.path.startswith(str(media_root))
    assert "spot" not in photo.image.name  # the patient's file name is not kept
    # No static or media URL reaches it.
    for url in (
        f"/media/{photo.image.name}",
        f"/static/{photo.image.name}",
        f"/{photo.image.name}",
        f"/var/media/{photo.image.name}",
    ):
        assert client.get(url).status_code == 404, url

    url = f"/lesion-photos/{photo.pk}/"
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    assert logged_in(bob).get(url).status_code == 404
    [probe] = AuditEvent.objects.filter(object_type="lesion_photo")  # no view: the probe
    assert (probe.action, probe.username, probe.patient_id) == ("denied", "bob", patient.pk)

    response = logged_in(alice).get(url)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, no-store"
    [event] = AuditEvent.objects.filter(object_type="lesion_photo", action="view")
    assert (event.user, event.patient_id) == (alice, patient.pk)
    assert event.object_id == str(photo.pk)


@pytest.mark.django_db
def test_it_answers_404_for_a_photo_that_does_not_exist(alice):
    assert logged_in(alice).get("/lesion-photos/987654321/").status_code == 404


# --- One submission wins ----------------------------------------------------------------


@pytest.mark.django_db
def test_it_lets_exactly_one_claim_of_a_link_win(link):
    at = timezone.now()

    assert claim_link(link.pk, at) is True
    assert claim_link(link.pk, at) is False


@pytest.mark.django_db
def test_it_makes_one_report_of_two_submissions_that_both_saw_an_unused_link(link, patient):
    forms = []
    for answers in (ROUTINE, URGENT):
        form = lesion_forms.LesionReportForm(answers, language="en")
        assert form.is_valid()
        forms.append(form)
    stale = ReportLink.objects.get(pk=link.pk)  # both loaded before either wrote

    first = submit_web_report(stale, forms[0])
    second = submit_web_report(stale, forms[1])

    assert first is not None and second is None
    assert LesionReport.objects.count() == 1
    assert LesionReport.objects.get().answers == ROUTINE


@pytest.mark.django_db(transaction=True)
def test_it_makes_one_report_of_two_concurrent_submissions(alice):
    ensure_default_protocol()
    patient = PatientFactory(cohort=CohortFactory(coordinators=[alice]))
    link = make_link(patient)
    start = threading.Barrier(2)
    statuses = []

    def submit():
        try:
            start.wait()
            statuses.append(Client().post(f"/r/{link.nonce}/", ROUTINE).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [302, 410]
    assert LesionReport.objects.filter(patient=patient).count() == 1
    assert Flag.objects.filter(patient=patient).count() == 1


# --- Staff entry --------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_records_a_staff_report_and_shows_the_flag(alice, patient):
    client = logged_in(alice)
    url = f"/patients/{patient.pk}/lesion-report/"

    form_page = client.get(url)
    assert form_page.status_code == 200
    assert "Rosalind" in form_page.content.decode()
    assert AuditEvent.objects.filter(action="view", object_type="patient").count() == 1

    response = client.post(
        url, {**URGENT, "source": "clinic", "note": "Seen at the visit.", "photos": [png()]}
    )

    assert response.status_code == 302
    [report] = LesionReport.objects.all()
    assert (report.patient, report.channel, report.created_by) == (patient, "staff", alice)
    assert report.complete is True
    assert report.note == "Clinic visit. Seen at the visit."
    assert report.photos.count() == 1
    assert response["Location"] == f"/patients/{patient.pk}/lesion-reports/{report.pk}/"
    [created] = AuditEvent.objects.filter(action="create")
    assert (created.object_type, created.object_id) == ("lesion_report", str(report.pk))
    assert (created.user, created.patient_id) == (alice, patient.pk)

    shown = client.get(response["Location"])
    body = shown.content.decode()
    assert shown.status_code == 200
    assert "Urgent" in body and "Review due by" in body
    local = timezone.localtime(report.flag.review_due_at, ZoneInfo(patient.cohort.timezone))
    assert local.strftime("%H:%M") in body
    assert AuditEvent.objects.filter(action="view", object_type="lesion_report").count() == 1


@pytest.mark.django_db
def test_it_records_a_partial_staff_report(alice, patient):
    response = logged_in(alice).post(
        f"/patients/{patient.pk}/lesion-report/", {"source": "phone", "bleeding": "yes"}
    )

    assert response.status_code == 302
    report = LesionReport.objects.get()
    assert report.complete is False and report.answers == {"bleeding": "yes"}
    assert report.flag.urgency == "urgent"
    assert report.note == "Phone call."


@pytest.mark.django_db
def test_it_hides_staff_entry_from_another_cohort(bob, patient, link):
    client = logged_in(bob)

    assert client.get(f"/patients/{patient.pk}/lesion-report/").status_code == 404
    response = client.post(f"/patients/{patient.pk}/lesion-report/", {**URGENT, "source": "phone"})
    assert response.status_code == 404
    assert "Rosalind" not in response.content.decode()
    assert LesionReport.objects.count() == 0
    # Nothing shown or written: only the probes, kept for the admins.
    probes = AuditEvent.objects.order_by("pk")
    assert [(e.action, e.username, e.object_type, e.patient_id) for e in probes] == [
        ("denied", "bob", "patient", patient.pk),
        ("denied", "bob", "patient", patient.pk),
    ]

    client.post(f"/r/{link.nonce}/", ROUTINE)
    report = LesionReport.objects.get()
    assert client.get(f"/patients/{patient.pk}/lesion-reports/{report.pk}/").status_code == 404
    assert AuditEvent.objects.filter(action="denied", object_type="lesion_report").exists()


@pytest.mark.django_db
def test_it_sends_anonymous_staff_entry_to_sign_in(client, patient):
    response = client.get(f"/patients/{patient.pk}/lesion-report/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_it_refuses_a_staff_report_without_a_csrf_token(alice, patient):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice, backend=MODEL_BACKEND)

    response = client.post(f"/patients/{patient.pk}/lesion-report/", {**URGENT, "source": "phone"})

    assert response.status_code == 403
    assert LesionReport.objects.count() == 0


# --- The words --------------------------------------------------------------------------


def test_it_has_plain_words_for_every_question_and_answer_in_both_languages():
    for language in ("en", "es"):
        assert set(lesion_forms.QUESTION_LABELS[language]) == set(QUESTIONS)
        for question, codes in QUESTIONS.items():
            assert set(lesion_forms.ANSWER_LABELS[language][question]) == set(codes)
        assert set(lesion_forms.TEXT[language]) == set(lesion_forms.TEXT["en"])
        words = [
            *lesion_forms.QUESTION_LABELS[language].values(),
            *(
                label
                for answers in lesion_forms.ANSWER_LABELS[language].values()
                for label in answers.values()
            ),
            *lesion_forms.TEXT[language].values(),
        ]
        for text in words:
            for word in DIAGNOSIS_WORDS:
                assert word not in text.lower(), (language, text)


def test_it_strips_location_metadata_from_photos(client, link, media_root):
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (40.0, 26.0, 46.0)}  # GPSInfo: latitude
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "pink").save(buffer, format="JPEG", exif=exif)
    upload = SimpleUploadedFile("spot.jpg", buffer.getvalue(), content_type="image/jpeg")

    response = client.post(f"/r/{link.nonce}/", {**ROUTINE, "photos": [upload]})

    assert response.status_code == 302
    [photo] = LesionPhoto.objects.all()
    with photo.image.open("rb") as stored, Image.open(stored) as image:
        assert dict(image.getexif()) == {}
        assert image.size == (32, 32)
