"""The answer to a bundle import: a transaction-response Bundle, one entry per Patient."""

from fhir.resources.R4B.bundle import Bundle

from .enrolment import Outcome

# How each patient fared, as an entry's HTTP status and a note.
_FATES = (
    ("created", "201 Created", "Enrolled, assessed and planned."),
    ("updated", "200 OK", "Updated and re-assessed."),
    ("unchanged", "200 OK", "Unchanged: the bundle says nothing new."),
    ("older", "200 OK", "Left as it is: a newer bundle was applied already."),
)
WITHDRAWN = "Withdrawn from follow-up: the EHR says the patient died."


def import_response(outcome: Outcome) -> Bundle:
    withdrawn = {patient.pk for patient in outcome.withdrawn}
    entries = [
        _entry(patient, status, [note] + ([WITHDRAWN] if patient.pk in withdrawn else []))
        for attribute, status, note in _FATES
        for patient in getattr(outcome, attribute)
    ]
    return Bundle(type="transaction-response", entry=entries)


def _entry(patient, status: str, notes: list[str]) -> dict:
    issues = [
        {"severity": "information", "code": "informational", "diagnostics": note} for note in notes
    ]
    return {
        "response": {
            "status": status,
            "location": f"Patient/{patient.pk}",
            "outcome": {"resourceType": "OperationOutcome", "issue": issues},
        }
    }
