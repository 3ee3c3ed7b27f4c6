"""From a lesion report to a flag a clinician reviews in time, and its review.

Every report becomes a flag, whatever its channel (SMS questionnaire, web
form, staff entry) and however complete: triage only decides how fast.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cohorts import messaging, services
from cohorts.models import Patient
from notifications.models import Message
from notifications.sms_templates import WHEN
from scheduling.models import Visit

from .alerts import alert_urgent_flag
from .business_days import add_business_days
from .models import Flag, Holiday, LesionReport, Questionnaire
from .triage import triage


class FlagStateError(Exception):
    """The flag cannot take this step from its current status."""


def holidays() -> set:
    return set(
        Holiday.objects.filter(day__gte=timezone.localdate() - timedelta(days=7)).values_list(
            "day", flat=True
        )
    )


@transaction.atomic
def record_report(
    patient: Patient,
    channel: str,
    answers: dict,
    *,
    complete: bool = True,
    by=None,
    note: str = "",
    messages: Iterable[Message] = (),
    at: datetime | None = None,
) -> Flag:
    """Save the report, triage it into a flag, tell the patient, alert if urgent."""
    at = at or timezone.now()
    report = LesionReport.objects.create(
        patient=patient,
        channel=channel,
        answers=answers,
        complete=complete,
        note=note,
        created_by=by,
        created_at=at,
    )
    report.messages.set(messages)
    if channel != LesionReport.Channel.SMS:
        merge_open_questionnaire(report)
    result = triage(answers, patient.risk_tier, complete)
    sla = settings.FLAG_REVIEW_BUSINESS_DAYS[result.urgency]
    days_off, zone = holidays(), patient.cohort.timezone
    flag = Flag.objects.create(
        patient=patient,
        report=report,
        urgency=result.urgency,
        reasons=list(result.reasons),
        rule_version=result.rule_version,
        created_at=at,
        review_due_at=add_business_days(at, sla, zone, days_off),
        lead_escalation_due_at=add_business_days(at, 2 * sla, zone, days_off),
    )
    messaging.queue(
        patient,
        "report_received",
        f"flag:{flag.pk}:received",
        is_reply=True,
        when=WHEN[flag.urgency].get(patient.language, WHEN[flag.urgency]["en"]),
    )
    if flag.urgency == Flag.Urgency.URGENT:
        transaction.on_commit(lambda: alert_urgent_flag.delay(flag.pk))
    return flag


def merge_open_questionnaire(report: LesionReport) -> bool:
    """Close an SMS questionnaire left open into a report made by web or staff.

    The patient who texted "2" may answer on the web link instead; without
    this, the abandoned questionnaire would time out into a second flag for
    the same lesion. Returns whether one was open.
    """
    questionnaire = (
        Questionnaire.objects.select_for_update()
        .filter(patient_id=report.patient_id, closed_at__isnull=True)
        .first()
    )
    if questionnaire is None:
        return False
    questionnaire.closed_at, questionnaire.report = timezone.now(), report
    questionnaire.save(update_fields=["closed_at", "report"])
    report.messages.add(*questionnaire.messages.all())
    return True


def _locked(flag: Flag) -> Flag:
    return Flag.objects.select_for_update().select_related("patient__cohort").get(pk=flag.pk)


@transaction.atomic
def acknowledge(flag: Flag, by) -> Flag:
    flag = _locked(flag)
    if flag.status != Flag.Status.OPEN:
        raise FlagStateError(f"A {flag.status} flag cannot be acknowledged.")
    flag.status, flag.acknowledged_at, flag.acknowledged_by = (
        Flag.Status.ACKNOWLEDGED,
        timezone.now(),
        by,
    )
    flag.save()
    return flag


@transaction.atomic
def resolve(flag: Flag, outcome: str, by, note: str = "") -> Flag:
    """Close the review with its outcome; a confirmed recurrence re-plans the patient."""
    flag = _locked(flag)
    if flag.status == Flag.Status.RESOLVED:
        raise FlagStateError("This flag is already resolved.")
    if outcome not in Flag.Outcome.values:
        raise FlagStateError(f"Unknown outcome {outcome!r}.")
    flag.status, flag.outcome, flag.outcome_note = Flag.Status.RESOLVED, outcome, note
    flag.resolved_at, flag.resolved_by = timezone.now(), by
    flag.save()
    if outcome == Flag.Outcome.RECURRENCE:
        _record_recurrence(flag.patient, by)
    if outcome == Flag.Outcome.URGENT_VISIT and flag.urgent_visit_id:
        _tell_patient_about_visit(flag)
    return flag


def _record_recurrence(patient: Patient, by) -> None:
    profile = patient.profile
    profile.prior_recurrence = True
    profile.save()
    services.reassess_and_replan([patient], by=by)


def _tell_patient_about_visit(flag: Flag) -> None:
    visit = flag.urgent_visit
    if visit.status != Visit.Status.BOOKED:
        return
    local = timezone.localtime(visit.booked_at, ZoneInfo(flag.patient.timezone))
    messaging.queue(
        flag.patient,
        "visit_booked",
        f"flag:{flag.pk}:visit:{visit.pk}",
        is_reply=True,
        day=local.strftime("%Y-%m-%d"),
        hour=local.strftime("%H:%M"),
        place=f", {visit.location}" if visit.location else "",
    )


@transaction.atomic
def add_urgent_visit(
    flag: Flag, by, booked_at: datetime | None = None, location: str = ""
) -> Visit:
    """The one-click urgent visit: due today, within a week; booked if a time is given."""
    flag = _locked(flag)
    if flag.status == Flag.Status.RESOLVED:
        raise FlagStateError("This flag is already resolved.")
    if flag.urgent_visit_id:
        return flag.urgent_visit
    today = timezone.localdate()
    visit = Visit.objects.create(
        patient=flag.patient,
        kind=Visit.Kind.URGENT,
        due_date=today,
        window_start=today,
        window_end=today + timedelta(days=7),
        note=f"Urgent review of skin report (flag {flag.pk}).",
    )
    if booked_at is not None:
        visit.book(booked_at, location, by=by)
    flag.urgent_visit = visit
    flag.save(update_fields=["urgent_visit"])
    return visit
