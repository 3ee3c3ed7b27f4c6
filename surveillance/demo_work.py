"""The work a demo cohort starts with, so the staff pages show the job on first sight.

Overdue visits, an urgent and a routine flag, patients' messages waiting in
the inbox, an SMS that failed and a questionnaire still open: each made
through the same paths as the real thing (the webhook's store-and-route, the
staff report, the visit rows), never written around them.
"""

import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from cohorts import site_days
from cohorts.models import Cohort, Patient
from notifications import inbound
from notifications.models import Message
from scheduling.models import Visit

from . import lesions

OUR_NUMBER = "+12025550100"  # fictional
# What demo patients write, as the webhook would take it.
WORDS = [
    "2",  # a new spot: the questionnaire starts, the flag is raised at once
    "I found a small bump near my scar and it's bleeding",
    "Can I move my appointment to Friday? I have a family wedding.",
    "Thank you, see you next month",
]
ROUTINE_ANSWERS = {"location": "elsewhere", "feel": "flat", "colour": "skin", "itch": "yes"}


def _received(patient: Patient, body: str) -> None:
    message, _ = inbound.store(
        f"SMdemo{uuid.uuid4().hex}", patient.contact.number, OUR_NUMBER, body
    )
    with transaction.atomic():
        inbound.route(message.pk)


def _make_overdue(cohort: Cohort, patients: list[Patient]) -> None:
    """Their next planned visit's window ended a few days ago (as if nobody booked it)."""
    today = site_days.today(cohort)
    for days, patient in enumerate(patients, start=3):
        visit = patient.visits.filter(status=Visit.Status.PLANNED).order_by("due_date").first()
        if visit is not None:
            visit.due_date = today - timedelta(days=days + 14)
            visit.window_start = today - timedelta(days=days + 28)
            visit.window_end = today - timedelta(days=days)
            visit.save(update_fields=["due_date", "window_start", "window_end"])


def _failed_sms(patient: Patient) -> None:
    now = timezone.now()
    Message.objects.create(
        contact=patient.contact,
        subject=patient,
        direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.SELF_EXAM,
        body="Your care team: time for your skin self-check.",
        to_number=patient.contact.number,
        status=Message.Status.FAILED,
        attempts=1,
        attempt_started_at=now,
        error="Twilio 30006: landline or unreachable carrier",
        error_code="30006",
        idempotency_key=f"demo:failed:{patient.pk}",
    )


def create_demo_work(cohort: Cohort) -> None:
    """Give a new demo cohort its first day's work (once: the cohort is new)."""
    patients = list(cohort.patients.select_related("contact", "cohort").order_by("-pk"))
    writers, rest = patients[: len(WORDS)], patients[len(WORDS) :]
    for patient, words in zip(writers, WORDS, strict=True):
        _received(patient, words)
    lesions.record_report(rest[0], "staff", ROUTINE_ANSWERS, note="Called the clinic")
    _failed_sms(rest[1])
    _make_overdue(cohort, rest[2:5])
