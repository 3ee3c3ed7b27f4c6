"""The coordinator's Today list: what needs a person, most urgent first, in sections.

Each section is two queries whatever the cohort's size (its first rows, and
how many there are in all), each from an indexed condition on what needs
attention: unresolved flags by deadline, inbound messages to review, planned
visits whose window ended or opens this week, outbound messages that failed,
questionnaires still open.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from cohorts import site_days
from cohorts.access import is_admin
from cohorts.models import Patient
from notifications.models import Message
from scheduling.models import SILENT_AFTER, ReminderSeries, Visit
from surveillance.models import Flag, Questionnaire

ROWS = 15
# Past this many, a list says "100+": the exact figure is on the dashboard and in the CSV.
# Counting further each time the page loads buys a coordinator nothing, and costs most where
# the rows are others' (a coordinator's count reads past every other cohort's rows).
COUNT_UP_TO = 100
BOOK_AHEAD = timedelta(days=7)
GONE_WRONG = (Message.Status.FAILED, Message.Status.UNDELIVERABLE, Message.Status.EXPIRED)


@dataclass
class Section:
    key: str
    title: str
    empty: str
    rows: list = field(default_factory=list)
    total: int = 0
    counted: str = "0"

    @property
    def more(self) -> str:
        """How many rows past those shown ("85+" past the counting limit)."""
        rest = self.total - len(self.rows)
        return f"{rest}+" if self.total > COUNT_UP_TO else str(rest) if rest else ""


@dataclass
class Rows:
    rows: list
    total: int
    more: bool = False  # rows past these ones

    @property
    def counted(self) -> str:
        return f"{COUNT_UP_TO}+" if self.total > COUNT_UP_TO else str(self.total)


def first_rows(queryset: QuerySet, count: int = ROWS, cohorts=None, skip: int = 0) -> Rows:
    """The first `count` rows after the first `skip` (their ids chosen from the list's index
    first, cohort by cohort when `cohorts` are given, then the rows and their joins loaded
    for those alone) and how many there are in all, up to COUNT_UP_TO and one: counted from
    the same ids, so a list costs two queries, not three."""
    wanted = max(skip + count, COUNT_UP_TO) + 1
    if (
        cohorts is None
        or not connections[queryset.db].features.supports_slicing_ordering_in_compound
    ):
        ids = list(queryset.values_list("pk", flat=True)[skip:wanted])
    else:  # no `skip`: a list chosen per cohort shows its first rows only
        ids = _ids_per_cohort(queryset, cohorts, wanted)
    shown, more = ids[:count], len(ids) > count
    by_id = {row.pk: row for row in queryset.filter(pk__in=shown).order_by()} if shown else {}
    rows = [by_id[pk] for pk in shown if pk in by_id]
    total = min(skip + len(ids), COUNT_UP_TO + 1) if more else skip + len(shown)
    return Rows(rows, total, more)


def _ids_per_cohort(queryset: QuerySet, cohorts, count: int) -> list[int]:
    """The first `count` ids in the list's order (ascending, the id last), chosen cohort by
    cohort: an index that leads with the cohort gives each cohort's rows in order at once,
    where all cohorts together must be gathered and sorted first. Merged here (where the
    database can limit each part of a union: not SQLite, which reads the list's order)."""
    order = list(queryset.query.order_by)
    parts = [queryset.filter(cohort_id=c.pk).values_list(*order)[:count] for c in cohorts]
    if not parts:
        return []
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return [row[-1] for row in sorted(rows)[:count]]


def _section(key: str, title: str, empty: str, queryset: QuerySet, cohorts=None) -> Section:
    found = first_rows(queryset, cohorts=cohorts)
    return Section(key, title, empty, found.rows, found.total, found.counted)


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
    """Unresolved flags, least time left to their review deadline first: theirs by the
    patient's cohort, or waiting with one of their patients among its candidates (as
    `care_teams.in_cohorts`, looked up per flag: the flags waiting are few)."""
    theirs = _patients(cohorts)
    mine = Exists(theirs.filter(pk=OuterRef("patient_id")))
    candidate = Flag.candidates.through.objects.filter(flag_id=OuterRef("pk"), patient__in=theirs)
    return (
        Flag.objects.filter(Q(mine) | Q(Exists(candidate), patient__isnull=True))
        .filter(status__in=Flag.UNRESOLVED)
        .select_related("patient__cohort", "report")
        .order_by("review_due_at", "pk")
    )


def inbox(user, cohorts, now: datetime) -> QuerySet:
    """Patients' own words nobody could route, oldest first: from the user's patients, and
    from numbers that are nobody's or shared (as `visible_messages`, by cohort ids: PostgreSQL
    starts from the few messages waiting, not from the patients)."""
    theirs = _patients(cohorts)
    nobodys = Q(subject_id__isnull=True)
    if not is_admin(user):
        nobodys &= Q(Exists(theirs.filter(contact_id=OuterRef("contact_id"))))
    return (
        Message.objects.filter(_about(theirs) | nobodys)
        .filter(direction=Message.Direction.INBOUND, needs_review=True)
        .select_related("contact")
        .order_by("created_on", "pk")
    )


def visits(user, cohorts, now: datetime) -> QuerySet:
    """Planned (not booked) visits whose window has opened, or opens within a week (by the
    latest site's date), the earliest window first: overdue ones lead."""
    if not cohorts:
        return Visit.objects.none()
    horizon = max(site_days.today(cohort, now) for cohort in cohorts) + BOOK_AHEAD
    return (
        Visit.objects.filter(
            cohort__in=[cohort.pk for cohort in cohorts],
            status=Visit.Status.PLANNED,
            window_start__lte=horizon,
        )
        .select_related("patient__cohort")
        .order_by("window_start", "pk")
    )


def failed(user, cohorts, now: datetime) -> QuerySet:
    """SMS that did not reach the patient and nobody has dealt with yet."""
    return (
        Message.objects.filter(
            _about(_patients(cohorts)),
            direction=Message.Direction.OUTBOUND,
            status__in=GONE_WRONG,
            reviewed_at__isnull=True,
        )
        .select_related("contact")
        .order_by("-modified_on", "-pk")
    )


def _patients(cohorts) -> QuerySet:
    return Patient.objects.filter(cohort__in=[cohort.pk for cohort in cohorts])


def _about(patients: QuerySet) -> Q:
    """Messages about one of these patients: looked up per message (the messages waiting are
    few; the patients, many)."""
    patient_type = ContentType.objects.get_for_model(Patient)
    return Q(Exists(patients.filter(pk=OuterRef("subject_id"))), subject_type=patient_type)


def questionnaires(user, cohorts, now: datetime) -> QuerySet:
    """SMS questionnaires a patient started and has not finished."""
    return (
        Questionnaire.objects.filter(patient__cohort__in=cohorts, closed_at__isnull=True)
        .select_related("patient__cohort", "patient__contact")
        .order_by("started_at", "pk")
    )


def silent(user, cohorts, now: datetime) -> QuerySet:
    """Patients who did not answer their last SILENT_AFTER self-exam reminders (or more): a
    call finds out why. The longest silence first; found from the few silent series (a
    partial index), not from the cohorts' patients."""
    silent_series = ReminderSeries.objects.filter(is_active=True, unanswered__gte=SILENT_AFTER)
    theirs = silent_series.filter(patient__cohort__in=[cohort.pk for cohort in cohorts])
    longest = silent_series.filter(patient=OuterRef("pk")).order_by("-unanswered")
    return (
        Patient.objects.filter(pk__in=theirs.values("patient_id"), is_active=True)
        .annotate(self_exams_unanswered=Subquery(longest.values("unanswered")[:1]))
        .select_related("cohort", "contact")
        .order_by("-self_exams_unanswered", "pk")
    )


# key: (what it lists, title, what an empty list says)
LISTS = {
    "flags": (flags, "Flags to review", "No flag is waiting for review."),
    "inbox": (inbox, "Messages waiting for a reply", "The inbox is empty."),
    "visits": (visits, "Visits to book", "No visit is overdue or due this week."),
    "failed": (failed, "Messages that did not arrive", "Every message arrived."),
    "questionnaires": (questionnaires, "Questionnaires still open", "No questionnaire is open."),
    "silent": (
        silent,
        f"Patients silent through their last {SILENT_AFTER} self-exam reminders",
        "Every patient answered one of their last reminders.",
    ),
}
# Lists of messages: their patient is the message's subject.
ABOUT_PATIENTS_BY_SUBJECT = {"inbox", "failed"}
# Lists whose index leads with the cohort: their first rows are chosen cohort by cohort.
CHOSEN_PER_COHORT = {"visits"}


def section(key: str, user, cohorts, now: datetime) -> Section:
    rows_of, title, empty = LISTS[key]
    per_cohort = cohorts if key in CHOSEN_PER_COHORT else None
    found = _section(key, title, empty, rows_of(user, cohorts, now), per_cohort)
    if key in ABOUT_PATIENTS_BY_SUBJECT:
        with_patients(found.rows)
    return found


def today(user, cohorts, now: datetime) -> list[Section]:
    return [section(key, user, cohorts, now) for key in LISTS]
