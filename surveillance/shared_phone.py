"""A lesion report from a phone several patients share: a flag at once, its patient named later.

When active patients share a number (a couple, a carer's phone), a message
from it has no patient until a coordinator says whose it is. A lesion report
cannot wait for that, so a message that reads as one ("2" to a self-exam
reminder, lesion words, words that it bleeds or grows fast) raises a flag at
once, without a patient (`Flag.message` says where it came from):

- its urgency is the most urgent triage among the patients who use the
  number (a very-high-risk patient on that phone makes it urgent), its
  deadlines the earliest among their sites, counted from the message;
- its `candidates` are those patients: the coordinators of each of their
  cohorts see it, are alerted if it is urgent and get its escalations, and
  assign it to one of them, even after the phone stopped being shared (each
  has a number of their own now, or left follow-up);
- assigning the message (from the flag or the inbox) gives it to the
  patient's handlers: their report becomes this flag's report
  (`lesions.record_report`), and its urgency never falls.
"""

from django.db import transaction

from notifications import hooks
from notifications.models import Message

from .alerts import alert_urgent_flag
from .care_teams import sharers
from .lesions import deadlines
from .models import Flag
from .questionnaire import reads_as_report
from .triage import triage

REASON = "Sent from a phone several patients share: say whose report it is"


@hooks.handles_unclaimed
def raise_flag(message: Message) -> str:
    """Inbound handler for a shared number: a lesion report is a flag now ("" if not one)."""
    patients = list(sharers(message.contact_id).select_related("cohort"))
    if not patients or not reads_as_report(message.body):
        return ""
    at = message.created_on
    verdicts = [triage({}, patient.risk_tier, False, message.body) for patient in patients]
    worst = min(verdicts, key=lambda verdict: verdict.urgency != Flag.Urgency.URGENT)
    due = [deadlines(patient.cohort, at, worst.urgency) for patient in patients]
    flag, created = Flag.objects.get_or_create(
        message=message,
        defaults={
            "urgency": worst.urgency,
            "reasons": [*worst.reasons, REASON],
            "rule_version": worst.rule_version,
            "created_at": at,
            "review_due_at": min(each["review_due_at"] for each in due),
            "lead_escalation_due_at": min(each["lead_escalation_due_at"] for each in due),
        },
    )
    if created:
        flag.candidates.set(patients)
    if created and flag.urgency == Flag.Urgency.URGENT:
        transaction.on_commit(lambda: alert_urgent_flag.delay(flag.pk))
    return "shared_phone_flag"
