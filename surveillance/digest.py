"""The coordinators' daily digest: one e-mail a day, not one per item (beat, hourly)."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from cohorts.models import Cohort
from scheduling.models import Visit
from scheduling.overdue import overdue_parts

from .care_teams import in_cohorts
from .models import DigestDelivery, Flag
from .staff_mail import flag_url, flags_url, local_time, send

logger = logging.getLogger(__name__)

# A digest lists at most this many flag references, then a link to the rest.
DIGEST_MAX_LINES = 50


@dataclass
class _Digest:
    zone: str
    day: object
    cohort_ids: list[int]
    unresolved: list[tuple] = field(default_factory=list)
    overdue_visits: int = 0


def send_daily_digests(now: datetime) -> int:
    """One e-mail a day to each coordinator, the first hourly run at or after DIGEST_HOUR.

    The day and hour are the coordinator's local ones, in their first
    cohort's time zone (lowest cohort id). The `DigestDelivery(user, day)`
    row is claimed first and the e-mail sent in the same transaction, so a
    day gets one digest however often this runs; a missed hour (beat down at
    07:00) catches up at the next run that day. A coordinator with nothing
    unresolved and no overdue visit gets no e-mail (the day is still marked
    done, so nothing arrives mid-day either). Returns how many were e-mailed.
    """
    User = get_user_model()
    memberships = Cohort.coordinators.through.objects.order_by("cohort_id").values_list(
        "user_id", "cohort_id", "cohort__timezone"
    )
    cohorts_of: dict[int, list[int]] = defaultdict(list)
    zone_of: dict[int, str] = {}
    for user_id, cohort_id, zone in memberships:
        cohorts_of[user_id].append(cohort_id)
        zone_of.setdefault(user_id, zone)

    due: dict[int, _Digest] = {}
    for user_id, cohort_ids in cohorts_of.items():
        local = now.astimezone(ZoneInfo(zone_of[user_id]))
        if local.hour >= settings.DIGEST_HOUR:
            due[user_id] = _Digest(zone_of[user_id], local.date(), cohort_ids)
    if not due:
        return 0
    done = set(
        DigestDelivery.objects.filter(
            user_id__in=list(due), day__in=sorted({d.day for d in due.values()})
        ).values_list("user_id", "day")
    )
    users = User.objects.filter(pk__in=[pk for pk, d in due.items() if (pk, d.day) not in done])

    flags_by_cohort: dict[int, list[tuple]] = {}
    sent = 0
    for user in users.order_by("pk"):
        digest = due[user.pk]
        unresolved = set()
        for cohort_id in digest.cohort_ids:
            if cohort_id not in flags_by_cohort:
                flags_by_cohort[cohort_id] = list(
                    Flag.objects.filter(
                        in_cohorts([cohort_id]), status__in=Flag.UNRESOLVED
                    ).values_list("pk", "urgency", "status", "review_due_at")
                )
            unresolved.update(flags_by_cohort[cohort_id])  # a shared phone's flag once
        digest.unresolved = sorted(unresolved, key=lambda row: (row[3], row[0]))
        digest.overdue_visits = _overdue_visits(digest.cohort_ids, now)
        try:
            sent += _deliver(user, digest, now)
        except Exception:
            logger.exception("Daily digest for user #%s failed; retrying next hour", user.pk)
    return sent


def _overdue_visits(cohort_ids: list[int], now: datetime) -> int:
    """The overdue visits the lists show (`scheduling.overdue`): each cohort's by its own
    date, not the coordinator's, and a withdrawn patient's booked visit still counts."""
    parts = overdue_parts(Cohort.objects.filter(pk__in=cohort_ids), now)
    return sum(Visit.objects.filter(part).count() for part in parts)


def _deliver(user, digest: _Digest, now: datetime) -> int:
    """Claim the day and send; 1 if an e-mail went out."""
    worth_sending = bool(digest.unresolved or digest.overdue_visits)
    if worth_sending and not (user.is_active and user.email):
        logger.warning("Coordinator #%s has no usable e-mail address: no digest", user.pk)
        worth_sending = False
    try:
        with transaction.atomic():
            DigestDelivery.objects.create(user=user, day=digest.day, sent_at=now)
            if worth_sending:
                send(*_digest_email(digest, now), [user])
    except IntegrityError:
        return 0  # Another runner sent today's digest.
    return int(worth_sending)


def _digest_email(digest: _Digest, now: datetime) -> tuple[str, str]:
    zone = ZoneInfo(digest.zone)
    overdue = [row for row in digest.unresolved if row[3] < now]
    due_today = [
        row
        for row in digest.unresolved
        if row[3] >= now and row[3].astimezone(zone).date() == digest.day
    ]
    later = [row for row in digest.unresolved if row not in overdue and row not in due_today]
    opened = sum(1 for row in digest.unresolved if row[2] == Flag.Status.OPEN)
    subject = (
        f"Daily digest {digest.day:%Y-%m-%d}: {len(overdue)} overdue, "
        f"{len(due_today)} due today, {len(digest.unresolved)} unresolved skin reports"
    )
    lines = [
        f"Your cohorts on {digest.day:%Y-%m-%d} ({digest.zone}):",
        "",
        f"Unresolved flags: {len(digest.unresolved)} "
        f"({opened} open, {len(digest.unresolved) - opened} acknowledged)",
        f"Overdue flags: {len(overdue)}",
        f"Flags due today: {len(due_today)}",
        f"Overdue visits: {digest.overdue_visits}",
    ]
    shown = 0
    for title, rows in [("Overdue", overdue), ("Due today", due_today), ("Later", later)]:
        if not rows:
            continue
        lines += ["", f"{title}:"]
        for pk, urgency, status, review_due_at in rows:
            if shown == DIGEST_MAX_LINES:
                break
            lines.append(
                f"- flag #{pk} ({urgency}, {status}), review by "
                f"{local_time(review_due_at, digest.zone)}: {flag_url(pk)}"
            )
            shown += 1
    if shown < len(digest.unresolved):
        lines += ["", f"... and {len(digest.unresolved) - shown} more: {flags_url()}"]
    return subject, "\n".join([*lines, ""])
