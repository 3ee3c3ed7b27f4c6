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


def import_response(outcome: Outcome) -> Bundle:
    entries = []
    for attribute, status, note in _FATES:
        for patient in getattr(outcome, attribute):
            entries.append(
                {
                    "response": {
                        "status": status,
                        "location": f"Patient/{patient.pk}",
                        "outcome": {
                            "resourceType": "OperationOutcome",
                            "issue": [
                                {
                                    "severity": "information",
                                    "code": "informational",
                                    "diagnostics": note,
                                }
                            ],
                        },
                    }
                }
            )
    return Bundle(type="transaction-response", entry=entries)
