"""A patient's record out as FHIR: $everything, the subject-access zip, the CapabilityStatement."""

import io
import json
import zipfile
from datetime import UTC, datetime

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from audit.models import AuditEvent
from fhir_r4 import bulk_export
from surveillance import lesions
from surveillance.models import LesionPhoto
from tests.factories import PatientFactory

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
ANSWERS = {"location": "near_scar", "feel": "firm_lump", "colour": "red", "bleeding": "no"}


@pytest.fixture
def followed(cohort_a, tmp_path):
    """A high-risk patient with a booked visit, a web lesion report with a photo, an open flag."""
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        patient = PatientFactory(cohort=cohort_a, tier="high", first_name="Rosa")
        visit = patient.visits.order_by("due_date").first()
        visit.book(datetime(2027, 1, 12, 15, 30, tzinfo=UTC), location="Clinic 2")
        flag = lesions.record_report(patient, "web", ANSWERS, note="A red bump by the scar")
        photo = LesionPhoto(report=flag.report, content_type="image/png", size=len(PNG))
        photo.image.save("photo", ContentFile(PNG), save=False)
        photo.save()
        yield patient


def _everything(client, patient, query=""):
    response = client.get(f"/fhir/r4/Patient/{patient.pk}/$everything{query}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/fhir+json"
    return response.json()


def _of_type(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_everything_holds_the_whole_record_and_validates(followed, alice, api):
    bundle = _everything(api(alice), followed)

    Bundle.model_validate(bundle)  # every resource, as fhir.resources reads R4
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert kinds == set(bulk_export.TYPES)  # every kind of the record
    (patient,) = _of_type(bundle, "Patient")
    assert patient["identifier"][0]["value"] == followed.mrn
    assert patient["identifier"][0]["type"]["coding"][0]["code"] == "MR"
    markers = {o["code"]["coding"][0]["code"]: o for o in _of_type(bundle, "Observation")}
    assert set(markers) == {"85337-4", "85339-0", "48676-1"}
    (risk,) = _of_type(bundle, "RiskAssessment")
    assert risk["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "high"
    assert [n["text"] for n in risk["note"]] == followed.latest_assessment.reasons
    assert risk["method"]["coding"][0]["version"] == followed.latest_assessment.rule_version


def test_the_care_plan_has_every_visit_and_the_reminders(followed, alice, api):
    bundle = _everything(api(alice), followed)

    (plan,) = _of_type(bundle, "CarePlan")
    visits = [a for a in plan["activity"] if a["detail"]["kind"] == "Appointment"]
    reminders = [a for a in plan["activity"] if a["detail"]["kind"] == "CommunicationRequest"]
    assert len(visits) == followed.visits.count()
    assert len(reminders) == followed.reminder_series.filter(is_active=True).count() >= 1
    assert reminders[0]["detail"]["scheduledTiming"]["repeat"]["timeOfDay"] == ["10:00:00"]
    assert "scheduled" in {a["detail"]["status"] for a in visits}
    (appointment,) = _of_type(bundle, "Appointment")
    assert appointment["status"] == "booked"
    assert appointment["start"].startswith("2027-01-12T15:30:00")


def test_reports_flags_and_photos_are_linked(followed, alice, api):
    bundle = _everything(api(alice), followed)

    (flag,) = _of_type(bundle, "Flag")
    assert flag["status"] == "active" and "lesion review" in flag["code"]["text"]
    (answers,) = _of_type(bundle, "QuestionnaireResponse")
    (form,) = _of_type(bundle, "Questionnaire")
    assert answers["questionnaire"] == form["url"]
    given = {item["linkId"]: item["answer"][0] for item in answers["item"]}
    assert given["location"]["valueCoding"]["code"] == "near_scar"
    assert given["note"] == {"valueString": "A red bump by the scar"}
    (media,) = _of_type(bundle, "Media")
    photo = LesionPhoto.objects.get()
    assert media["content"]["url"].endswith(f"/lesion-photos/{photo.pk}/")
    assert media["partOf"][0]["reference"] == f"QuestionnaireResponse/{answers['id']}"


def test_sms_words_are_left_out_unless_asked_for(followed, alice, api):
    client = api(alice)
    without = _of_type(_everything(client, followed), "Communication")
    with_bodies = _of_type(_everything(client, followed, "?include-bodies=true"), "Communication")

    assert without and all("payload" not in c for c in without)
    assert all(c["payload"][0]["contentString"] for c in with_bodies)
    reasons = list(
        AuditEvent.objects.filter(patient=followed, action="export").values_list(
            "reason", flat=True
        )
    )
    assert sorted(reasons) == ["fhir $everything", "fhir $everything with SMS bodies"]


def test_another_cohorts_patient_is_a_404_and_nothing_is_recorded(followed, bob, cohort_b, api):
    response = api(bob).get(f"/fhir/r4/Patient/{followed.pk}/$everything")

    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not AuditEvent.objects.filter(patient=followed, action="export").exists()


def test_the_patient_resource_reads_alone(followed, alice, api):
    response = api(alice).get(f"/fhir/r4/Patient/{followed.pk}")

    assert response.status_code == 200
    assert response.json()["name"][0]["given"] == ["Rosa"]
    assert AuditEvent.objects.filter(patient=followed, action="view").exists()


def test_the_subject_access_zip_has_the_record_and_the_photos(followed, alice, api, settings):
    settings.MEDIA_ROOT = str(LesionPhoto.objects.get().image.storage.location)
    response = api(alice).get(f"/fhir/r4/Patient/{followed.pk}/record.zip")

    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    photo = LesionPhoto.objects.get()
    assert archive.read(f"photos/photo-{photo.pk}.png") == PNG
    record = json.loads(archive.read("record.json"))
    Bundle.model_validate(record)
    assert all(c["payload"] for c in _of_type(record, "Communication"))
    assert AuditEvent.objects.filter(patient=followed, object_type="subject_access").exists()


def test_the_capability_statement_is_public_and_valid(client):
    response = client.get("/fhir/r4/metadata")

    assert response.status_code == 200
    statement = CapabilityStatement.model_validate(response.json())
    assert statement.fhirVersion == "4.0.1"
    operations = {
        op.name for resource in statement.rest[0].resource for op in resource.operation or []
    }
    assert operations == {"everything", "export"}


def test_the_timeline_offers_the_record_and_a_session_downloads_it(followed, alice):
    from .helpers import session_for

    client = session_for(alice)
    timeline = client.get(f"/staff/patients/{followed.pk}/").content.decode()
    link = f"/fhir/r4/Patient/{followed.pk}/record.zip"

    assert f'href="{link}"' in timeline
    response = client.get(link)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    "route", ["", "/$everything", "/$everything?include-bodies=true", "/record.zip"]
)
def test_every_patient_route_is_a_404_for_another_cohort_and_for_nobody(
    followed, bob, cohort_b, api, client, route
):
    path = f"/fhir/r4/Patient/{followed.pk}{route}"
    missing = PatientFactory(cohort=cohort_b).pk + 1000  # no patient has this id
    before = AuditEvent.objects.count()

    theirs = api(bob).get(path)
    nobodys = api(bob).get(f"/fhir/r4/Patient/{missing}{route}")
    assert client.get(path).status_code in (401, 403)

    # No existence oracle: another cohort's patient and no patient answer alike...
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.content.replace(str(followed.pk).encode(), b"ID") == nobodys.content.replace(
        str(missing).encode(), b"ID"
    )
    # ...and the trail (read by admins) keeps both probes, with whose record it was.
    probes = AuditEvent.objects.order_by("pk")[before:]
    assert [(e.action, e.username, e.object_type, e.object_id, e.patient_id) for e in probes] == [
        ("denied", "bob", "patient", str(followed.pk), followed.pk),
        ("denied", "bob", "patient", str(missing), None),
    ]
    assert (
        not AuditEvent.objects.filter(patient=followed)
        .exclude(action__in=["create", "denied"])
        .exists()
    )
