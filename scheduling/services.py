"""Planning and re-planning, in bulk.

Re-planning compares what the protocol asks for with what is stored and
changes only the difference, so planning twice changes nothing and row ids
stay stable. It never touches a visit a coordinator acted on (booked,
completed, missed), a visit whose window has already ended (a care gap stays
visible), or a reminder series' progress (`next_due_at` advanced by the sweep).

Every function takes a batch of patients and runs a fixed number of queries
per batch, whatever its size.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from django.db import transaction
from django.db.models import OuterRef, Subquery, prefetch_related_objects
from django.utils import timezone

from bulk_sql import writes
from cohorts import site_days
from cohorts.models import Patient

from . import planner
from .models import Protocol, ReminderSeries, Visit

# A patient no longer followed up is planned nothing: their reminder series are
# retired and the visits still only planned are dropped (booked ones stay for staff).
NOTHING = planner.Plan(visits=(), series=())
# The visit kinds a protocol plans (not urgent visits, which staff add).
PLANNED_KINDS = frozenset(kind.value for kind in planner.VisitKind)
# What re-planning reads of a stored visit.
VISIT_FIELDS = (
    "patient_id", "cohort_id", "protocol_id", "kind", "status", "due_date", "window_start",
    "window_end",
)  # fmt: skip


def plan_for(patient: Patient, protocol: Protocol, rules, now: datetime) -> planner.Plan:
    if not patient.is_active:
        return NOTHING
    profile = patient.profile
    return planner.plan(
        rules[patient.risk_tier],
        treatment_end=profile.treatment_end_date,
        enrolled_on=patient.enrolled_on,
        timezone=patient.timezone,
        reminder_time=patient.reminder_time,
        now=now,
    )


def replan_reassessed(sender, patients: Sequence[Patient], **kwargs) -> None:
    """Receiver of `cohorts.signals.reassessed`: plans follow the patients' new state."""
    replan(patients)


@transaction.atomic(savepoint=False)  # as `cohorts.services.reassess_and_replan`
def replan(patients: Sequence[Patient], now: datetime | None = None) -> None:
    """Bring the visits and reminder series of `patients` in line with the active protocol.

    The patients must have a profile and a risk tier.
    """
    if not patients:
        return
    now = now or timezone.now()
    prefetch_related_objects(patients, "contact", "cohort")  # their time zones, in two queries
    protocol = Protocol.objects.active()
    rules = protocol.rules_by_tier()
    plans = {patient.pk: plan_for(patient, protocol, rules, now) for patient in patients}
    _sync_visits(patients, plans, protocol, now)
    _cancel_overdue_of_inactive(patients, now)
    _sync_series(patients, plans, protocol)


def _cancel_overdue_of_inactive(patients, now: datetime) -> None:
    """A patient no longer followed up owes no visit: the overdue ones still only planned
    (the plan dropped those ahead) and an urgent one not yet booked are cancelled, so no
    list asks anyone to book them; a booked one stays for staff to cancel."""
    inactive = [patient.pk for patient in patients if not patient.is_active]
    if inactive:
        Visit.objects.filter(patient_id__in=inactive, status=Visit.Status.PLANNED).update(
            status=Visit.Status.CANCELLED, status_changed_at=now, next_reminder_at=None
        )


def _follow_cohorts(visit_ids: list[int]) -> None:
    """A patient moved to another cohort takes their visits along (`Visit.cohort`)."""
    if visit_ids:
        their_cohort = Patient.objects.filter(pk=OuterRef("patient_id")).values("cohort_id")
        Visit.objects.filter(pk__in=visit_ids).update(cohort_id=Subquery(their_cohort))


def _sync_visits(patients, plans, protocol: Protocol, now: datetime) -> None:
    """Replace the future planned visits that no longer match the plan; a window still
    open on the site's date (not the server's) is still ahead. Visits, cancelled ones
    too, follow their patient's cohort."""
    stored, moved = defaultdict(list), []
    cohort_of = {patient.pk: patient.cohort_id for patient in patients}
    for visit in Visit.objects.filter(patient__in=patients).only(*VISIT_FIELDS):
        if visit.cohort_id != cohort_of[visit.patient_id]:
            moved.append(visit.pk)
        if visit.status != Visit.Status.CANCELLED:
            stored[visit.patient_id].append(visit)
    _follow_cohorts(moved)
    site_today = {p.cohort_id: site_days.today(p.cohort, now) for p in patients}
    stale, fresh, repointed = [], [], []
    for patient in patients:
        today = site_today[patient.cohort_id]
        replaceable, fixed = _split(stored[patient.pk], today)
        wanted = {
            _visit_key(v): v
            for v in plans[patient.pk].visits
            if v.window_end >= today and not _covered(v, fixed)
        }
        stale += [v.pk for v in replaceable if _visit_key(v) not in wanted]
        kept = [v for v in replaceable if _visit_key(v) in wanted]
        repointed += [v for v in kept if v.protocol_id != protocol.pk]
        kept_keys = {_visit_key(v) for v in kept}
        fresh += [
            _new_visit(patient, protocol, v) for key, v in wanted.items() if key not in kept_keys
        ]
    Visit.objects.filter(pk__in=stale).delete()
    writes.insert_rows(Visit, fresh)
    _repoint(repointed, protocol)


def _new_visit(patient: Patient, protocol: Protocol, visit: planner.PlannedVisit) -> dict:
    """A planned visit's row, as values: enrolling a thousand patients writes twenty
    thousand, where building each as a model costs more than writing it."""
    return {
        "patient_id": patient.pk,
        "cohort_id": patient.cohort_id,
        "protocol_id": protocol.pk,
        "kind": visit.kind.value,
        "due_date": visit.due_date,
        "window_start": visit.window_start,
        "window_end": visit.window_end,
    }


def _visit_key(visit) -> tuple:
    return (str(visit.kind), visit.due_date, visit.window_start, visit.window_end)


def _repoint(rows, protocol: Protocol) -> None:
    """A kept row the new version also asks for is now planned from that version."""
    if rows:
        type(rows[0]).objects.filter(pk__in=[row.pk for row in rows]).update(protocol=protocol)


def _split(visits: list[Visit], today: date) -> tuple[list[Visit], list[Visit]]:
    """Planned visits of a kind the protocol plans, whose window has not opened yet, may
    be replaced; every other visit is fixed.

    A visit whose window is open is owed now: a new plan whose visit for that
    month has a narrower window, already closed (a tier that rose), would
    otherwise drop it and owe nothing until its next visit. An urgent visit is
    staff's, for a lesion flag: no plan has it, so it outlives every plan.
    """
    replaceable, fixed = [], []
    for visit in visits:
        ahead = visit.status == Visit.Status.PLANNED and visit.window_start > today
        (replaceable if ahead and visit.kind in PLANNED_KINDS else fixed).append(visit)
    return replaceable, fixed


def _covered(wanted: planner.PlannedVisit, fixed: list[Visit]) -> bool:
    """A visit of the same kind that was acted on already serves this window."""
    return any(
        visit.kind == wanted.kind
        and visit.window_start <= wanted.window_end
        and wanted.window_start <= visit.window_end
        for visit in fixed
    )


def _carry_unanswered(new: list[ReminderSeries], retired: list[ReminderSeries]) -> None:
    """A series that replaces one of its kind (a new tier, say) keeps its silence count."""
    for series in new:
        series.unanswered = max(
            (old.unanswered for old in retired if old.kind == series.kind), default=0
        )


def _sync_series(patients, plans, protocol: Protocol) -> None:
    """Keep series the plan still has; deactivate the others; add the new ones."""
    stored = defaultdict(dict)
    for series in ReminderSeries.objects.filter(patient__in=patients, is_active=True):
        stored[series.patient_id][series.identity()] = series
    retired, fresh, repointed = [], [], []
    for patient in patients:
        wanted = {}
        for planned in plans[patient.pk].series:
            candidate = ReminderSeries.from_plan(patient, protocol, planned)
            wanted[candidate.identity()] = candidate
        for key, series in stored[patient.pk].items():
            if key not in wanted:
                retired.append(series.pk)
            elif series.protocol_id != protocol.pk:
                repointed.append(series)
        new = [s for key, s in wanted.items() if key not in stored[patient.pk]]
        _carry_unanswered(new, [s for key, s in stored[patient.pk].items() if key not in wanted])
        fresh += new
    ReminderSeries.objects.filter(pk__in=retired).update(is_active=False, next_due_at=None)
    writes.insert(fresh)
    _repoint(repointed, protocol)
