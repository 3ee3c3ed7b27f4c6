"""The due-sweep: turn due reminder occurrences into outbox messages.

Each batch is one transaction: claim due rows with SELECT ... FOR UPDATE SKIP
LOCKED (so concurrent sweeps share the work instead of blocking), write one
outbox message per occurrence under a unique idempotency key, and advance the
row to its next occurrence *after now*. A sweep that ran late (workers down
for a day) therefore sends one catch-up message per series, not one per
missed occurrence. The queries use the partial indexes `reminder_series_due`
and `visit_reminder_due`: a tick costs what is due, not the cohort's size.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from bulk_sql import writes
from cohorts import messaging
from notifications.models import Message

from . import planner
from .models import ReminderSeries, Visit

BATCH_SIZE = 500


def sweep(now: datetime | None = None, batch_size: int = BATCH_SIZE) -> dict:
    """Sweep reminder series and booked-visit reminders until nothing is due."""
    now = now or timezone.now()
    counts = {
        "self_exam": _drain(_sweep_series, now, batch_size),
        "visit_reminder": _drain(_sweep_visits, now, batch_size),
    }
    if any(counts.values()):
        from notifications.tasks import dispatch_due

        transaction.on_commit(dispatch_due.delay)
    return counts


def _drain(sweep_batch, now: datetime, batch_size: int) -> int:
    """Batches until one comes short: what it did not find is not due, or another sweep
    holds it (`SKIP LOCKED`) and writes it."""
    total, claimed = 0, batch_size
    while claimed == batch_size:
        claimed = sweep_batch(now, batch_size)
        total += claimed
    return total


def _claim(due, order: str, batch_size: int, fields: tuple[str, ...]) -> list:
    """Lock a batch of due rows (skipping rows another sweep holds), then load `fields` and
    each row's `messaging.Addressee` (as `row.to`).

    Two steps on purpose: the locking query walks the partial index and stops
    at the batch size; joining patients and cohorts in it would make
    PostgreSQL join and sort every due row before the LIMIT.
    """
    ids = list(
        due.select_for_update(skip_locked=True)
        .order_by(order)
        .values_list("pk", flat=True)[:batch_size]
    )
    rows = due.model.objects.filter(pk__in=ids).only(*fields).order_by()
    by_id = {row.pk: row for row in rows.annotate(**messaging.addressee_annotations())}
    for row in by_id.values():
        row.to = messaging.addressee_of(row)
    return [by_id[pk] for pk in ids]  # in due order: their messages are written, and go, so


def _wanted(to: messaging.Addressee, moment: datetime) -> bool:
    """Whether to write this occurrence, due at `moment`, at all.

    Occurrences for patients who cannot be texted (inactive, no consent, STOP)
    or whose reminders are paused are skipped and the row still advances: a
    pause means no reminders during it, and a due row left behind would be
    scanned again on every tick. Dispatch checks all of this again at send time.
    """
    return to.can_be_texted_on(to.local_day(moment))


@transaction.atomic
def _sweep_series(now: datetime, batch_size: int) -> int:
    due = ReminderSeries.objects.filter(is_active=True, next_due_at__lte=now)
    batch = _claim(
        due,
        "next_due_at",
        batch_size,
        ("kind", "rule", "dtstart", "timezone", "next_due_at", "unanswered"),
    )
    messages = []
    for series in batch:
        due, following = series.next_due_at, planner.next_occurrence(series.as_planned(), now)
        if _wanted(series.to, due):
            # Superseded by the next reminder of the series: it expires when that one is due.
            key = f"series:{series.pk}:{due:%Y%m%dT%H%M%SZ}"
            messages.append(series.to.message(series.kind, key, expires_at=following))
            # One more since they last wrote (`answers.answered` starts the count again).
            series.unanswered += 1
        series.next_due_at = following
    writes.insert_rows(Message, messages, ignore_conflicts=True)
    writes.update(batch, ["next_due_at", "unanswered"])
    return len(batch)


@transaction.atomic
def _sweep_visits(now: datetime, batch_size: int) -> int:
    due = Visit.objects.filter(status=Visit.Status.BOOKED, next_reminder_at__lte=now)
    batch = _claim(
        due, "next_reminder_at", batch_size, ("booked_at", "location", "next_reminder_at")
    )
    reminders = [
        _visit_reminder(visit)
        for visit in batch
        # After an outage, an appointment already past gets no reminder.
        if visit.booked_at > now and _wanted(visit.to, visit.next_reminder_at)
    ]
    writes.insert_rows(Message, reminders, ignore_conflicts=True)
    for visit in batch:
        visit.next_reminder_at = visit.reminder_after(now)
    writes.update(batch, ["next_reminder_at"])
    return len(batch)


def _visit_reminder(visit: Visit) -> dict:
    local = timezone.localtime(visit.booked_at, ZoneInfo(visit.to.timezone))
    return visit.to.message(
        "visit_reminder",
        visit.reminder_key(),
        time_critical=True,
        expires_at=visit.booked_at,  # nothing about a visit that has passed
        day=local.strftime("%Y-%m-%d"),
        hour=local.strftime("%H:%M"),
        place=f", {visit.location}" if visit.location else "",
    )
