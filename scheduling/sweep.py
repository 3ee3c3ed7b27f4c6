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


def _claim(due, order: str, batch_size: int, fields: tuple[str, ...]) -> list[tuple]:
    """Lock a batch of due rows (skipping rows another sweep holds), then load each one's
    key and `fields`, and its `messaging.Addressee`: `((pk, *fields), addressee)`.

    Two steps on purpose: the locking query walks the partial index and stops
    at the batch size; joining patients and cohorts in it would make
    PostgreSQL join and sort every due row before the LIMIT. Values, not
    models: a batch of models with their patient's values costs more Python
    than all its statements.
    """
    ids = list(
        due.select_for_update(skip_locked=True)
        .order_by(order)
        .values_list("pk", flat=True)[:batch_size]
    )
    loaded = due.model.objects.filter(pk__in=ids).order_by()
    width = 1 + len(fields)
    by_id = {
        row[0]: (row[:width], messaging.Addressee(*row[width:]))
        for row in loaded.values_list("pk", *fields, *messaging.addressee_paths())
    }
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
    messages, advanced = [], []
    for (pk, kind, rule, dtstart, zone, due_at, unanswered), to in batch:
        series = ReminderSeries.planned(kind, rule, dtstart, zone, due_at)
        following = planner.next_occurrence(series, now)
        if _wanted(to, due_at):
            # Superseded by the next reminder of the series: it expires when that one is due.
            key = f"series:{pk}:{due_at:%Y%m%dT%H%M%SZ}"
            messages.append(to.message(kind, key, expires_at=following))
            # One more since they last wrote (`answers.answered` starts the count again).
            unanswered += 1
        advanced.append({"pk": pk, "next_due_at": following, "unanswered": unanswered})
    writes.insert_rows(Message, messages, ignore_conflicts=True)
    writes.update_rows(ReminderSeries, advanced, ["next_due_at", "unanswered"])
    return len(batch)


@transaction.atomic
def _sweep_visits(now: datetime, batch_size: int) -> int:
    due = Visit.objects.filter(status=Visit.Status.BOOKED, next_reminder_at__lte=now)
    batch = [
        (Visit(pk=pk, booked_at=booked_at, location=location, next_reminder_at=at), to)
        for (pk, booked_at, location, at), to in _claim(
            due, "next_reminder_at", batch_size, ("booked_at", "location", "next_reminder_at")
        )
    ]
    reminders = [
        _visit_reminder(visit, to)
        for visit, to in batch
        # After an outage, an appointment already past gets no reminder.
        if visit.booked_at > now and _wanted(to, visit.next_reminder_at)
    ]
    writes.insert_rows(Message, reminders, ignore_conflicts=True)
    for visit, _ in batch:
        visit.next_reminder_at = visit.reminder_after(now)
    writes.update([visit for visit, _ in batch], ["next_reminder_at"])
    return len(batch)


def _visit_reminder(visit: Visit, to: messaging.Addressee) -> dict:
    local = timezone.localtime(visit.booked_at, ZoneInfo(to.timezone))
    return to.message(
        "visit_reminder",
        visit.reminder_key(),
        time_critical=True,
        expires_at=visit.booked_at,  # nothing about a visit that has passed
        day=local.strftime("%Y-%m-%d"),
        hour=local.strftime("%H:%M"),
        place=f", {visit.location}" if visit.location else "",
    )
