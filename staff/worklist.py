"""The coordinator's Today list: what needs a person, most urgent first, in sections.

Each section is two queries whatever the cohort's size (its first rows, and
how many there are in all), each from an indexed condition on what needs
attention: unresolved flags by deadline, inbound messages to review, planned
visits whose window ended or opens this week, outbound messages that failed,
questionnaires still open.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, QuerySet

from cohorts.models import Patient
from cohorts.patient_messages import visible_messages
from notifications.models import Message
from scheduling.models import Visit
from scheduling.overdue import due_soon, overdue
from surveillance.care_teams import in_cohorts
from surveillance.models import Flag, Questionnaire

ROWS = 25
GONE_WRONG = (Message.Status.FAILED, Message.Status.UNDELIVERABLE, Message.Status.EXPIRED)


@dataclass
class Section:
    key: str
    title: str
    empty: str
    rows: list = field(default_factory=list)
    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def _section(key: str, title: str, empty: str, queryset: QuerySet) -> Section:
    rows = list(queryset[:ROWS])
    total = len(rows) if len(rows) < ROWS else queryset.order_by().count()
    return Section(key, title, empty, rows, total)


def with_patients(messages: list[Message]) -> list[Message]:
    """Give each message its patient as `about` (None: an unknown or shared number), in one
    query."""
    patients = Patient.objects.select_related("cohort").in_bulk(
        {message.subject_id for message in messages if message.subject_id is not None}
    )
    for message in messages:
        message.about = patients.get(message.subject_id)
    return messages


def flags(user, cohorts, now: datetime) -> QuerySet:
    """Unresolved flags, least time left to their review deadline first."""
    return (
        Flag.objects.filter(in_cohorts(cohorts), status__in=Flag.UNRESOLVED)
        .select_related("patient__cohort", "report")
        .order_by("review_due_at", "pk")
    )


def inbox(user, cohorts, now: datetime) -> QuerySet:
    """Patients' own words nobody could route: oldest first (numbers nobody's stay in)."""
    return (
        visible_messages(user)
        .filter(direction=Message.Direction.INBOUND, needs_review=True)
        .filter(Q(patient__cohort__in=cohorts) | Q(subject_id__isnull=True))
        .select_related("contact")
        .order_by("created_on", "pk")
    )


def visits(user, cohorts, now: datetime) -> QuerySet:
    """Planned (not booked) visits overdue or opening within a week, the longest-waiting first."""
    owed = overdue(cohorts, now=now) | due_soon(cohorts, days=7, now=now)
    return (
        Visit.objects.filter(owed, status=Visit.Status.PLANNED)
        .select_related("patient__cohort")
        .order_by("window_end", "pk")
    )


def failed(user, cohorts, now: datetime) -> QuerySet:
    """SMS that did not reach the patient and nobody has dealt with yet."""
    return (
        Message.objects.filter(
            patient__cohort__in=cohorts,
            direction=Message.Direction.OUTBOUND,
            status__in=GONE_WRONG,
            reviewed_at__isnull=True,
        )
        .select_related("contact")
        .order_by("-modified_on", "-pk")
    )


def questionnaires(user, cohorts, now: datetime) -> QuerySet:
    """SMS questionnaires a patient started and has not finished."""
    return (
        Questionnaire.objects.filter(patient__cohort__in=cohorts, closed_at__isnull=True)
        .select_related("patient__cohort", "patient__contact")
        .order_by("started_at", "pk")
    )


# key: (what it lists, title, what an empty list says)
LISTS = {
    "flags": (flags, "Flags to review", "No flag is waiting for review."),
    "inbox": (inbox, "Messages waiting for a reply", "The inbox is empty."),
    "visits": (visits, "Visits to book", "No visit is overdue or due this week."),
    "failed": (failed, "Messages that did not arrive", "Every message arrived."),
    "questionnaires": (questionnaires, "Questionnaires still open", "No questionnaire is open."),
}
# Lists of messages: their patient is the message's subject.
ABOUT_PATIENTS_BY_SUBJECT = {"inbox", "failed"}


def section(key: str, user, cohorts, now: datetime) -> Section:
    rows_of, title, empty = LISTS[key]
    found = _section(key, title, empty, rows_of(user, cohorts, now))
    if key in ABOUT_PATIENTS_BY_SUBJECT:
        with_patients(found.rows)
    return found


def today(user, cohorts, now: datetime) -> list[Section]:
    return [section(key, user, cohorts, now) for key in LISTS]
