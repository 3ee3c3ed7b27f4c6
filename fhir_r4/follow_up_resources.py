"""The follow-up as FHIR R4 resources: the plan, appointments, open reviews, reports, SMS.

- CarePlan: the follow-up plan; each visit (with its window and status) and
  each active self-exam reminder series (its rule and local time) an activity.
- Appointment: each visit with a booked time.
- Flag: each lesion review still open.
- QuestionnaireResponse: each lesion report, answering the Questionnaire of
  `lesion_questionnaire`; Media: its photos, as links to the audited photo route.
- Communication: each SMS to or from the patient, without its words unless asked.
"""

from django.conf import settings
from django.urls import reverse
from icalendar import vRecur

from notifications.models import Message
from scheduling.models import Visit

from . import codes
from .clinical_resources import concept, subject
from .lesion_questionnaire import QUESTIONNAIRE_URL, answer_items
from .patient_data import PatientData
from .resource_json import resource

VISIT_STATUS = {
    Visit.Status.PLANNED: "not-started",
    Visit.Status.BOOKED: "scheduled",
    Visit.Status.COMPLETED: "completed",
    Visit.Status.MISSED: "on-hold",
    Visit.Status.CANCELLED: "cancelled",
}
APPOINTMENT_STATUS = {
    Visit.Status.BOOKED: "booked",
    Visit.Status.COMPLETED: "fulfilled",
    Visit.Status.MISSED: "noshow",
    Visit.Status.CANCELLED: "cancelled",
}
# FHIR's unit for each RFC 5545 frequency a reminder rule uses.
PERIOD_UNITS = {"DAILY": "d", "WEEKLY": "wk", "MONTHLY": "mo", "YEARLY": "a"}
SENT = (Message.Status.SENT, Message.Status.DELIVERED, Message.Status.RECEIVED)
PENDING = (Message.Status.QUEUED, Message.Status.SENDING)


def care_plan(data: PatientData) -> dict:
    patient = data.patient
    activities = [_visit_activity(visit) for visit in data.visits]
    activities += [_reminder_activity(data, series) for series in data.series]
    return resource(
        "CarePlan",
        id=f"{patient.pk}-follow-up",
        status="active" if patient.is_active else "revoked",
        intent="plan",
        category=[
            concept(codes.REMINDER_SYSTEM, codes.PLAN_CATEGORY, "Follow-up surveillance plan")
        ],
        title="Follow-up after treatment for breast cancer",
        subject=subject(data),
        period={"start": patient.enrolled_on},
        addresses=[{"reference": f"Condition/{patient.pk}-primary-cancer"}],
        activity=activities or None,
    )


def _visit_activity(visit: Visit) -> dict:
    detail = {
        "kind": "Appointment",
        "code": concept(codes.VISIT_KIND_SYSTEM, visit.kind, f"{visit.kind} visit".capitalize()),
        "status": VISIT_STATUS[visit.status],
        "scheduledPeriod": {"start": visit.window_start, "end": visit.window_end},
        "description": f"Due {visit.due_date.isoformat()}",
    }
    if visit.status == Visit.Status.MISSED:
        detail["statusReason"] = {"text": "Missed: to be booked again"}
    return {"id": f"visit-{visit.pk}", "detail": detail}


def _reminder_activity(data: PatientData, series) -> dict:
    rule = vRecur.from_ical(series.rule)
    repeat = {
        "frequency": 1,
        "period": int(rule.get("INTERVAL", [1])[0]),
        "periodUnit": PERIOD_UNITS[rule["FREQ"][0]],
        "timeOfDay": [data.patient.reminder_time],
    }
    return {
        "detail": {
            "kind": "CommunicationRequest",
            "code": concept(codes.REMINDER_SYSTEM, series.kind, "Skin self-exam SMS reminder"),
            "status": "in-progress",
            "scheduledTiming": {"repeat": repeat, "code": {"text": f"RRULE:{series.rule}"}},
            "description": f"Next {series.next_due_at.isoformat()}" if series.next_due_at else "",
        }
    }


def appointments(data: PatientData) -> list[dict]:
    return [
        resource(
            "Appointment",
            id=f"visit-{visit.pk}",
            status=APPOINTMENT_STATUS[visit.status],
            serviceType=[concept(codes.VISIT_KIND_SYSTEM, visit.kind)],
            description=visit.location or None,
            start=visit.booked_at,
            end=visit.booked_at,
            comment=visit.note or None,
            supportingInformation=[{"reference": f"CarePlan/{data.patient.pk}-follow-up"}],
            participant=[{"actor": subject(data), "status": "accepted"}],
        )
        for visit in data.visits
        if visit.booked_at is not None and visit.status in APPOINTMENT_STATUS
    ]


def flags(data: PatientData) -> list[dict]:
    return [
        resource(
            "Flag",
            id=f"flag-{flag.pk}",
            status="active",
            category=[concept(codes.FLAG_SYSTEM, "lesion-review", "Lesion report to review")],
            code={
                "coding": [{"system": codes.FLAG_SYSTEM, "code": flag.urgency}],
                "text": f"{flag.get_urgency_display()} lesion review, due by "
                f"{flag.review_due_at.isoformat()}: " + "; ".join(flag.reasons),
            },
            subject=subject(data),
            period={"start": flag.created_at},
        )
        for flag in data.flags
    ]


def questionnaire_responses(data: PatientData) -> list[dict]:
    return [
        resource(
            "QuestionnaireResponse",
            id=f"report-{report.pk}",
            questionnaire=QUESTIONNAIRE_URL,
            status="completed" if report.complete else "in-progress",
            subject=subject(data),
            authored=report.created_at,
            source=subject(data) if report.channel != report.Channel.STAFF else None,
            item=answer_items(report.answers, report.note) or None,
        )
        for report in data.reports
    ]


def media(data: PatientData) -> list[dict]:
    base = settings.PUBLIC_BASE_URL
    return [
        resource(
            "Media",
            id=f"photo-{photo.pk}",
            status="completed",
            type=concept("http://terminology.hl7.org/CodeSystem/media-type", "image", "Image"),
            subject=subject(data),
            partOf=[{"reference": f"QuestionnaireResponse/report-{report.pk}"}],
            createdDateTime=photo.uploaded_at,
            content={
                "contentType": photo.content_type,
                "url": base + reverse("lesion-photo", args=[photo.pk]),
                "size": photo.size,
                "title": f"Lesion photo {photo.pk}",
            },
        )
        for report in data.reports
        for photo in report.photos.all()
        if photo.erased_at is None
    ]


def communications(data: PatientData, include_bodies: bool) -> list[dict]:
    return [_communication(data, message, include_bodies) for message in data.messages]


def _communication(data: PatientData, message: Message, include_bodies: bool) -> dict:
    outbound = message.direction == Message.Direction.OUTBOUND
    status = "completed" if message.status in SENT else "in-progress"
    if message.status not in SENT + PENDING:
        status = "not-done"
    return resource(
        "Communication",
        id=f"sms-{message.pk}",
        status=status,
        statusReason={"text": message.status} if status == "not-done" else None,
        category=[{"coding": [{"system": codes.OURS + "sms-kind", "code": message.kind}]}],
        medium=[{"text": "SMS"}],
        subject=subject(data),
        sent=(message.sent_at if outbound else message.created_on),
        received=(message.delivered_at if outbound else message.created_on),
        recipient=[subject(data)] if outbound else None,
        sender=None if outbound else subject(data),
        payload=[{"contentString": message.body}] if include_bodies and message.body else None,
    )
