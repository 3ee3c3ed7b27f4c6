"""Enrolling from an EHR's FHIR bundle: command, API, all or nothing, twice, newer, older."""

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from cohorts.models import Patient, RiskAssessment

from .helpers import bundle, marker, post_bundle, resource, varied


@pytest.fixture
def bundle_file(tmp_path):
    def write(data: dict):
        path = tmp_path / "bundle.json"
        path.write_text(__import__("json").dumps(data))
        return str(path)

    return write


def test_the_command_enrols_the_patient_with_markers_stage_and_treatment(
    cohort_a, alice, bundle_file
):
    call_command("import_fhir_bundle", bundle_file(bundle()), cohort=cohort_a.name, user="alice")

    patient = Patient.objects.select_related("profile", "contact").get()
    assert (patient.first_name, patient.last_name, patient.mrn) == (
        "Ana Maria",
        "Synthetic-Lopez",
        "FHIR-0001",
    )
    assert str(patient.date_of_birth) == "1968-04-12"
    assert patient.contact.number == "+12125550101"  # the mobile, not the home phone
    assert patient.contact.language == "es"
    assert patient.contact.sms_consent is False  # consent is asked, never assumed from an EHR
    profile = patient.profile
    assert (profile.er, profile.pr, profile.her2) == ("positive", "negative", "positive")
    assert (profile.histology, profile.stage) == ("ductal", "II")
    assert str(profile.diagnosis_date) == "2025-09-15"  # the Condition's onset
    assert str(profile.surgery_date) == "2025-10-14" and profile.surgery_site == "left breast"
    assert str(profile.treatment_end_date) == "2026-01-09"  # the radiotherapy's end
    assert patient.risk_tier == "high"
    assert "HER2-positive tumour" in patient.latest_assessment.reasons
    assert patient.visits.exists() and patient.reminder_series.filter(is_active=True).exists()
    assert AuditEvent.objects.filter(action="import", patient=patient, user=alice).exists()


def test_an_equivocal_her2_stays_unknown_and_so_high_risk(cohort_a, alice, api):
    data = bundle()
    marker(data, "85319-2")["valueCodeableConcept"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "42425007", "display": "Equivocal"}]
    }
    marker(data, "85337-4")["valueCodeableConcept"]["coding"][0]["code"] = "260385009"  # ER-
    marker(data, "85339-0")["valueCodeableConcept"]["coding"][0]["code"] = "10828004"  # PR+

    response = post_bundle(api(alice), data, cohort_a.pk)

    assert response.status_code == 200, response.content
    patient = Patient.objects.get()
    assert patient.profile.her2 == "unknown"
    assert patient.risk_tier == "high"
    assert "HER2 status unknown: treated as high risk until known" in (
        patient.latest_assessment.reasons
    )


def test_an_ihc_score_of_two_plus_is_equivocal(cohort_a, alice, api):
    data = bundle()
    marker(data, "85319-2")["valueCodeableConcept"] = {"text": "IHC 2+"}

    assert post_bundle(api(alice), data, cohort_a.pk).status_code == 200
    assert Patient.objects.get().profile.her2 == "unknown"


def test_the_api_answers_with_a_transaction_response(cohort_a, alice, api):
    response = post_bundle(api(alice), bundle(), cohort_a.pk)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    entry = response.json()["entry"][0]["response"]
    patient = Patient.objects.get()
    assert entry["status"] == "201 Created"
    assert entry["location"] == f"Patient/{patient.pk}"


def test_the_same_bundle_twice_changes_nothing(cohort_a, alice, api):
    client = api(alice)
    post_bundle(client, bundle(), cohort_a.pk)
    patient = Patient.objects.get()
    before = (
        patient.modified_on,
        patient.profile.modified_on,
        patient.history.count(),
        RiskAssessment.objects.count(),
        list(patient.visits.values_list("id", "modified_on")),
    )

    response = post_bundle(client, bundle(), cohort_a.pk)

    assert response.json()["entry"][0]["response"]["status"] == "200 OK"
    assert "Unchanged" in str(response.json()["entry"][0]["response"]["outcome"])
    patient.refresh_from_db()
    assert before == (
        patient.modified_on,
        patient.profile.modified_on,
        patient.history.count(),
        RiskAssessment.objects.count(),
        list(patient.visits.values_list("id", "modified_on")),
    )


def test_a_newer_bundle_updates_the_profile_and_reassesses(cohort_a, alice, api):
    client = api(alice)
    post_bundle(client, bundle(), cohort_a.pk)
    newer = varied(bundle(), timestamp="2026-11-20T08:00:00Z")
    marker(newer, "85319-2")["valueCodeableConcept"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "260385009"}]
    }

    response = post_bundle(client, newer, cohort_a.pk)

    assert "Updated" in str(response.json()["entry"][0]["response"]["outcome"])
    patient = Patient.objects.get()
    assert patient.profile.her2 == "negative"
    assert patient.risk_tier == "standard"  # ER+ PR- HER2-, stage II
    assert patient.latest_assessment.tier == "standard"


def test_an_older_bundle_leaves_the_patient_alone(cohort_a, alice, api):
    client = api(alice)
    post_bundle(client, bundle(), cohort_a.pk)
    older = varied(bundle(), timestamp="2026-10-01T08:00:00Z")
    marker(older, "85319-2")["valueCodeableConcept"] = {"text": "negative"}

    response = post_bundle(client, older, cohort_a.pk)

    assert "newer bundle" in str(response.json()["entry"][0]["response"]["outcome"])
    assert Patient.objects.get().profile.her2 == "positive"


def _issues(response) -> list[tuple[str, str]]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return [(issue.get("expression", [""])[0], issue["diagnostics"]) for issue in body["issue"]]


def test_a_broken_entry_is_a_400_naming_the_entry_and_field_and_writes_nothing(
    cohort_a, alice, api
):
    data = bundle()
    resource(data, "Patient")["birthDate"] = "1968-13-45"

    response = post_bundle(api(alice), data, cohort_a.pk)

    assert response.status_code == 400
    assert [path for path, _ in _issues(response)] == ["Bundle.entry[0].resource.birthDate"]
    assert not Patient.objects.exists()


def test_an_unreadable_result_names_its_observation(cohort_a, alice, api):
    data = bundle()
    marker(data, "85319-2")["valueCodeableConcept"] = {"text": "see report"}

    response = post_bundle(api(alice), data, cohort_a.pk)

    assert response.status_code == 400
    ((path, message),) = _issues(response)
    assert path == "Bundle.entry[4].resource.value[x]" and "HER2" in message


def test_an_unknown_resource_type_is_named(cohort_a, alice, api):
    data = bundle()
    data["entry"].append({"resource": {"resourceType": "Spaceship"}})

    response = post_bundle(api(alice), data, cohort_a.pk)

    assert response.status_code == 400
    assert _issues(response)[0][0] == "Bundle.entry[8].resource.resourceType"


def test_the_api_rules_are_named_at_their_fhir_element(cohort_a, alice, api):
    data = bundle()
    treatment = resource(data, "Procedure", 1)
    treatment["code"]["coding"] = [
        {"system": "urn:skin-surveillance:fhir:CodeSystem:treatment", "code": "primary-treatment"}
    ]
    treatment["performedPeriod"] = {"start": "2025-09-01", "end": "2025-10-01"}  # before surgery

    response = post_bundle(api(alice), data, cohort_a.pk)

    assert response.status_code == 400
    assert _issues(response) == [
        ("Bundle.entry[7].resource.performed[x]", "Primary treatment cannot end before surgery.")
    ]


def test_one_bad_patient_refuses_the_whole_bundle(cohort_a, alice, api):
    data = bundle()
    second = __import__("copy").deepcopy(data["entry"])
    for entry in second:
        entry["fullUrl"] = entry["fullUrl"].replace("1a0", "2b0")
        if "subject" in entry["resource"]:
            entry["resource"]["subject"]["reference"] = entry["resource"]["subject"][
                "reference"
            ].replace("1a0", "2b0")
    second[0]["resource"]["identifier"][0]["value"] = "FHIR-0002"
    second[0]["resource"]["id"] = "synthetic-two"
    second[0]["resource"]["telecom"] = []  # no phone: refused
    data["entry"] += second

    response = post_bundle(api(alice), data, cohort_a.pk)

    assert response.status_code == 400
    assert _issues(response)[0][0] == "Bundle.entry[8].resource.telecom"
    assert not Patient.objects.exists()


def test_a_bundle_for_a_cohort_not_yours_is_refused(cohort_a, cohort_b, bob, api):
    response = post_bundle(api(bob), bundle(), cohort_a.pk)

    assert response.status_code == 400
    assert not Patient.objects.exists()


def test_an_mrn_enrolled_in_a_cohort_not_yours_is_not_overwritten(cohort_a, alice, bob, api):
    from tests.factories import CohortFactory

    theirs = CohortFactory(name="Other", site=cohort_a.site, coordinators=[bob])
    post_bundle(api(alice), bundle(), cohort_a.pk)

    response = post_bundle(api(bob), bundle(), theirs.pk)

    assert response.status_code == 400
    assert "do not coordinate" in _issues(response)[0][1]
    assert Patient.objects.get().cohort == cohort_a


def test_not_json_is_a_400_and_the_wrong_media_type_a_415(cohort_a, alice, api):
    client = api(alice)
    bad = client.post(
        f"/fhir/r4/?cohort={cohort_a.pk}", data=b"{nope", content_type="application/fhir+json"
    )
    wrong = client.post(f"/fhir/r4/?cohort={cohort_a.pk}", data=b"x", content_type="text/plain")

    assert bad.status_code == 400 and _issues(bad)[0][0] == "Bundle"
    assert wrong.status_code == 415


def test_signed_out_is_a_401_operation_outcome(cohort_a, client):
    response = post_bundle(client, bundle(), cohort_a.pk)

    assert response.status_code in (401, 403)
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_command_refuses_a_broken_bundle_and_says_why(cohort_a, alice, bundle_file, capsys):
    data = bundle()
    resource(data, "Patient")["name"] = []

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_fhir_bundle", bundle_file(data), cohort=cohort_a.name, user="alice")

    assert "Bundle.entry[0].resource.name" in capsys.readouterr().err
    assert not Patient.objects.exists()


def test_a_patient_the_ehr_says_died_is_withdrawn_and_never_enrolled(cohort_a, alice, api):
    client = api(alice)
    died = bundle()
    resource(died, "Patient")["deceasedDateTime"] = "2026-11-20"

    refused = post_bundle(client, died, cohort_a.pk)
    assert refused.status_code == 400
    assert _issues(refused) == [
        ("Bundle.entry[0].resource.deceased[x]", "A deceased patient is not enrolled.")
    ]
    post_bundle(client, bundle(), cohort_a.pk)
    patient = Patient.objects.get()
    assert patient.reminder_series.filter(is_active=True).exists()

    response = post_bundle(client, varied(died, timestamp="2026-11-21T08:00:00Z"), cohort_a.pk)

    assert "the EHR says the patient died" in str(response.json()["entry"][0]["response"])
    patient.refresh_from_db()
    assert (patient.is_active, patient.withdrawal_reason) == (False, "deceased")
    assert str(patient.withdrawn_on) == "2026-11-20"
    assert not patient.reminder_series.filter(is_active=True).exists()
    everything = client.get(f"/fhir/r4/Patient/{patient.pk}").json()
    assert everything["active"] is False and everything["deceasedDateTime"] == "2026-11-20"


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        (b'{"resourceType": "Bundle", "entry": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "Bundle"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": ["x"]}', "Bundle.entry[0]"),
        (b'{"resourceType": "Bundle", "entry": []}', "Bundle.type"),
        (b'[{"resourceType": "Patient"}]', "Bundle"),
    ],
)
def test_malformed_bundles_are_a_400_never_a_500(cohort_a, alice, api, body, expression):
    response = api(alice).post(
        f"/fhir/r4/?cohort={cohort_a.pk}", data=body, content_type="application/fhir+json"
    )

    assert response.status_code == 400
    assert _issues(response)[0][0] == expression


def test_an_mrn_enrolled_by_another_request_meanwhile_is_a_400_not_a_500(
    cohort_a, alice, api, monkeypatch
):
    from cohorts.serializers import PatientSerializer
    from tests.factories import PatientFactory

    PatientFactory(cohort=cohort_a, mrn="FHIR-0001")
    # As if the other request committed between this one's validation and its insert.
    monkeypatch.setattr(PatientSerializer, "mrn_taken", lambda self, site, mrn: False)
    monkeypatch.setattr("fhir_r4.enrolment._enrolled", lambda cohort, records: {})

    response = post_bundle(api(alice), bundle(), cohort_a.pk)

    assert response.status_code == 400
    assert _issues(response)[0][0] == "Bundle.entry[0].resource.identifier"
    assert Patient.objects.count() == 1
