from notifications.models import Message
from surveillance import lesions
from tests.factories import ROUTINE_ANSWERS


def flag_for(patient, note=""):
    return lesions.record_report(patient, "staff", ROUTINE_ANSWERS, note=note)


def inbound(patient, body, **fields) -> Message:
    values = {
        "direction": "inbound",
        "kind": "inbound",
        "body": body,
        "from_number": patient.phone,
        "to_number": "+12025550100",
        "status": "received",
    }
    return Message.objects.create(subject=patient, contact=patient.contact, **{**values, **fields})
