"""From a lesion report to a flag a clinician reviews in time, and its review.

Every report becomes a flag, whatever its channel (SMS questionnaire, web
form, staff entry) and however complete: triage only decides how fast.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cohorts import messaging, services, site_days
from cohorts.access import can_resolve
from cohorts.holiday_calendars import public_holidays
from cohorts.models import Patient
from notifications.models import Message
from notifications.sms_templates import WHEN
from scheduling.models import Visit

from .alerts import alert_urgent_flag
from .business_days import add_business_days
from .models import Flag, Holiday, LesionReport, Questionnaire
from .triage import QUESTIONS, triage


class FlagStateError(Exception):
    """The flag cannot take this step from its current status."""


UNASSIGNED = "Say whose report this is first: assign the flag to one of its candidates."
# An urgent visit in these is still to come: asking for one again is asking for it.
TO_COME = (Visit.Status.PLANNED, Visit.Status.BOOKED)


# Review deadlines are at most a few weeks ahead: the days off looked up around them.
DAYS_OFF_AHEAD = timedelta(days=120)


def days_off(cohort, since: datetime) -> set:
    """The site's public holidays and local closures around `since` (the site's dates)."""
    start = site_days.today(cohort, since) - timedelta(days=7)
    end = start + DAYS_OFF_AHEAD
    closures = Holiday.objects.filter(Q(site="") | Q(site=cohort.site), day__range=(start, end))
    return public_holidays(cohort.country, cohort.subdivision, start, end) | set(
        closures.values_list("day", flat=True)
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
    thank: bool = True,
) -> Flag:
    """Save the report, triage it into a flag, tell the patient, alert if urgent.

    A web report made while the patient's SMS questionnaire is open completes
    that questionnaire's report and flag instead: one lesion, one flag. The
    SMS questionnaire itself opens its report at the first message
    (`thank=False`: the patient is thanked when it ends). A report from a
    message that already raised a flag before it had a patient (a shared
    phone) becomes that flag's report: its clock still runs from the message.
    """
    at = at or timezone.now()
    messages = list(messages)
    if channel == LesionReport.Channel.WEB:
        flag = complete_open_questionnaire(patient, answers, complete, note, at)
        if flag is not None:
            return flag
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
    if channel == LesionReport.Channel.STAFF:
        close_open_questionnaire(report)
    flag = _waiting_flag(messages)
    if flag is not None:
        flag.patient, flag.report = patient, report
        flag.save(update_fields=["patient", "report"])
        flag = retriage(flag)
    else:
        result = triage(answers, patient.risk_tier, complete, note)
        flag = Flag.objects.create(
            patient=patient,
            report=report,
            urgency=result.urgency,
            reasons=list(result.reasons),
            rule_version=result.rule_version,
            created_at=at,
            **deadlines(patient.cohort, at, result.urgency),
        )
    if thank:
        thank_patient(flag)
    if flag.urgency == Flag.Urgency.URGENT:
        transaction.on_commit(lambda: alert_urgent_flag.delay(flag.pk))
    return flag


def _waiting_flag(messages: list[Message]) -> Flag | None:
    """The flag one of these messages raised before anyone said whose it was, locked."""
    return (
        Flag.objects.select_for_update()
        .filter(message__in=messages, patient__isnull=True)
        .order_by("pk")
        .first()
    )


def raised_a_flag(message: Message) -> bool:
    """Whether this message raised a flag that is still waiting for its patient."""
    return Flag.objects.filter(message=message, patient__isnull=True).exists()


def deadlines(cohort, since: datetime, urgency: str) -> dict:
    """Review and lead-escalation deadlines, in business days of the site from `since`."""
    sla = settings.FLAG_REVIEW_BUSINESS_DAYS[urgency]
    off = days_off(cohort, since)
    return {
        "review_due_at": add_business_days(since, sla, cohort.timezone, off),
        "lead_escalation_due_at": add_business_days(since, 2 * sla, cohort.timezone, off),
    }


def thank_patient(flag: Flag) -> None:
    """The SMS saying when the care team will be in touch (once per flag)."""
    patient = flag.patient
    messaging.queue(
        patient,
        "report_received",
        f"flag:{flag.pk}:received",
        is_reply=True,
        when=WHEN[flag.urgency].get(patient.language, WHEN[flag.urgency]["en"]),
    )


@transaction.atomic
def retriage(flag: Flag) -> Flag:
    """Triage the flag's report again as it grows; urgency only ever rises on its own.

    The deadlines still count from the first report: a routine flag that
    becomes urgent is due one business day after the patient first wrote.
    """
    flag = _locked(flag)
    report = flag.report
    result = triage(report.answers, flag.patient.risk_tier, report.complete, report.note)
    reasons = list(result.reasons)
    if flag.urgency == Flag.Urgency.URGENT and result.urgency != Flag.Urgency.URGENT:
        reasons += [reason for reason in flag.reasons if reason not in reasons]  # why it still is
    flag.reasons, flag.rule_version = reasons, result.rule_version
    fields = ["reasons", "rule_version"]
    if result.urgency == Flag.Urgency.URGENT and flag.urgency != Flag.Urgency.URGENT:
        flag.urgency = Flag.Urgency.URGENT
        for name, value in deadlines(flag.patient.cohort, flag.created_at, flag.urgency).items():
            setattr(flag, name, value)
        fields += ["urgency", "review_due_at", "lead_escalation_due_at"]
        if flag.status != Flag.Status.RESOLVED:
            transaction.on_commit(lambda: alert_urgent_flag.delay(flag.pk))
    flag.save(update_fields=fields)
    return flag


def _open_questionnaire(patient_id: int) -> Questionnaire | None:
    return (
        Questionnaire.objects.select_for_update()
        .filter(patient_id=patient_id, closed_at__isnull=True)
        .first()
    )


def complete_open_questionnaire(
    patient: Patient, answers: dict, complete: bool, note: str, at: datetime
) -> Flag | None:
    """The patient answered on the web link instead: their SMS report takes the web answers.

    Returns the questionnaire's flag, re-triaged, or None when none is open.
    """
    questionnaire = _open_questionnaire(patient.pk)
    if questionnaire is None or questionnaire.report_id is None:
        return None
    report = questionnaire.report
    report.answers = {**report.answers, **answers}
    report.complete = complete or set(report.answers) >= set(QUESTIONS)
    report.note = "\n".join(part for part in (report.note, note) if part)
    report.save(update_fields=["answers", "complete", "note"])
    report.messages.add(*questionnaire.messages.all())
    questionnaire.closed_at = at
    questionnaire.save(update_fields=["closed_at"])
    flag = retriage(report.flag)
    thank_patient(flag)
    return flag


def close_open_questionnaire(report: LesionReport) -> bool:
    """Staff took the report by phone or in clinic: stop asking by SMS.

    The SMS exchange so far is linked to the staff report too. Returns
    whether a questionnaire was open.
    """
    questionnaire = _open_questionnaire(report.patient_id)
    if questionnaire is None:
        return False
    questionnaire.closed_at = timezone.now()
    questionnaire.save(update_fields=["closed_at"])
    report.messages.add(*questionnaire.messages.all())
    return True


def _locked(flag: Flag) -> Flag:
    return (
        Flag.objects.select_for_update(of=("self",))
        .select_related("patient__cohort")
        .get(pk=flag.pk)
    )


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


def outcomes_for(user, flag: Flag) -> list[str]:
    """The outcomes `user` may close this flag with.

    Resolving is a clinical decision (the cohort's clinical leads, admins);
    closing the flag of a patient withdrawn from follow-up is not: anyone on
    the care team may, with the outcome "patient withdrawn" (offered only then).
    """
    if flag.patient_id is None:
        return []
    withdrawn = [] if flag.patient.is_active else [Flag.Outcome.WITHDRAWN]
    if not can_resolve(user, flag.patient.cohort):
        return withdrawn
    return [outcome for outcome in Flag.Outcome if outcome != Flag.Outcome.WITHDRAWN] + withdrawn


@transaction.atomic
def resolve(flag: Flag, outcome: str, by, note: str = "") -> Flag:
    """Close the review with its outcome; a confirmed recurrence re-plans the patient."""
    flag = _locked(flag)
    if flag.status == Flag.Status.RESOLVED:
        raise FlagStateError("This flag is already resolved.")
    if flag.patient_id is None:
        raise FlagStateError(UNASSIGNED)
    if outcome not in Flag.Outcome.values:
        raise FlagStateError(f"Unknown outcome {outcome!r}.")
    if outcome == Flag.Outcome.WITHDRAWN and flag.patient.is_active:
        raise FlagStateError("The patient is still followed up: withdraw them first.")
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
    """The one-click urgent visit: due today, within a week; booked if a time is given.

    Asked again while the flag's urgent visit is still to come, it is that visit
    (booked, or booked again, at the time given). Once that one was cancelled,
    missed or done, the flag gets a new one: the patient still needs seeing.
    """
    flag = _locked(flag)
    if flag.status == Flag.Status.RESOLVED:
        raise FlagStateError("This flag is already resolved.")
    if flag.patient_id is None:
        raise FlagStateError(UNASSIGNED)
    current = flag.urgent_visit
    if current is not None and current.status in TO_COME:
        if booked_at is not None:
            current.book(booked_at, location or current.location, by=by)
        return current
    today = site_days.today(flag.patient.cohort)  # the clinic's date, not the server's
    visit = Visit.objects.create(
        patient=flag.patient,
        kind=Visit.Kind.URGENT,
        due_date=today,
        window_start=today,
        window_end=today + Visit.URGENT_WINDOW,
        note=f"Urgent review of skin report (flag {flag.pk}).",
    )
    if booked_at is not None:
        visit.book(booked_at, location, by=by)
    flag.urgent_visit = visit
    flag.save(update_fields=["urgent_visit"])
    return visit
