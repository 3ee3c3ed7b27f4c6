"""Urgent alerts, overdue escalation and the coordinators' daily digest.

Three jobs keep a lesion flag from being missed (DESIGN: "Lesion triage",
step 7 of "The flow of data"):

- `alert_urgent`: an urgent flag reaches people at once: one e-mail to the
  cohort's coordinators and, if `ONCALL_SMS_NUMBER` is set, one staff SMS.
- `escalate_overdue` (beat, every minute): an unresolved flag past
  `review_due_at` is e-mailed to the coordinators, and past
  `lead_escalation_due_at` (twice the SLA) to the cohort's clinical leads,
  each level once (the unique `FlagEscalation(flag, level)` says so).
- `send_daily_digests` (beat, hourly): otherwise coordinators get one
  e-mail a day, not one per item.

Every function may run twice or concurrently and still sends once. The
claim (a row, or the flag's row lock and `urgent_alerted_at`) is written in the
same transaction as the send, and the e-mail goes out *before* that
transaction commits: if the mail server refuses it, the claim rolls back and
the next tick tries again (at least once), while a concurrent runner blocks
on the claim and then skips (at most once, save a crash between the send and
the commit).

E-mail is not a private channel either: subjects and bodies carry only flag
numbers, urgency, deadlines and links, never a patient's name, MRN, phone or
a diagnosis; the link leads to the record behind a login.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from notifications import outbox
from notifications.models import Message
from scheduling.models import Visit

from .access import ADMIN_GROUP
from .models import Cohort, DigestDelivery, Flag, FlagEscalation

logger = logging.getLogger(__name__)

# At most this many flags per level per tick: the rest wait a minute.
BATCH_SIZE = 200
# The safety net re-sends lost urgent alerts for flags due no longer ago than this.
ALERT_CATCH_UP = timedelta(days=7)
# A digest lists at most this many flag references, then a link to the rest.
DIGEST_MAX_LINES = 50


# --- Shared helpers -------------------------------------------------------------------


def flag_url(flag_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL}/admin/surveillance/flag/{flag_id}/change/"


def flags_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/admin/surveillance/flag/"


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _reachable(users: Iterable) -> list:
    """Active users with an e-mail address, in id order, once each."""
    seen = {}
    for user in users:
        if user.is_active and user.email and user.pk not in seen:
            seen[user.pk] = user
    return [seen[pk] for pk in sorted(seen)]


def _admins() -> list:
    User = get_user_model()
    return _reachable(
        User.objects.filter(Q(is_superuser=True) | Q(groups__name=ADMIN_GROUP)).distinct()
    )


def _send(subject: str, body: str, users: list) -> None:
    """One e-mail to all of `users`; raises if the mail server refuses it."""
    EmailMessage(subject, body, to=[user.email for user in users]).send(fail_silently=False)


# --- Urgent alerts --------------------------------------------------------------------


def alert_urgent(flag_id: int) -> dict:
    """E-mail the cohort's coordinators about an urgent flag, and text the on-call number.

    Idempotent: the SMS is one outbox row under the key `flag:<id>:oncall`;
    the e-mail is claimed under the flag's row lock by `urgent_alerted_at`,
    written in the same transaction as the send.
    A resolved (or missing, or routine) flag alerts nobody.
    """
    result = {"flag": flag_id, "emailed": [], "sms": None, "skipped": ""}
    flag = Flag.objects.select_related("patient__cohort").filter(pk=flag_id).first()
    if flag is None:
        result["skipped"] = "no such flag"
        return result
    if flag.urgency != Flag.Urgency.URGENT or flag.status == Flag.Status.RESOLVED:
        result["skipped"] = f"{flag.urgency} {flag.status} flag"
        return result

    # The SMS first, in its own transaction: a mail server that is down must not hold it up.
    if settings.ONCALL_SMS_NUMBER:
        with transaction.atomic():
            result["sms"] = _queue_oncall_sms(flag).pk

    try:
        with transaction.atomic():
            flag = (
                Flag.objects.select_for_update().select_related("patient__cohort").get(pk=flag_id)
            )
            if flag.status == Flag.Status.RESOLVED:
                result["skipped"] = "resolved meanwhile"
            elif _alerted(flag):
                result["skipped"] = "already e-mailed"
            else:
                recipients = _urgent_recipients(flag.patient.cohort)
                _mark_alerted(flag)
                if recipients:
                    _send(*_urgent_email(flag), recipients)
                else:
                    logger.error("Urgent flag #%s: nobody to e-mail (no coordinators)", flag.pk)
                result["emailed"] = [user.pk for user in recipients]
    except Flag.DoesNotExist:
        result["skipped"] = "no such flag"
    return result


def _queue_oncall_sms(flag: Flag) -> Message:
    key = f"flag:{flag.pk}:oncall"
    zone = flag.patient.cohort.timezone
    body = (
        f"Urgent skin report, flag #{flag.pk}, review by {_local(flag.review_due_at, zone)}. "
        f"{flag_url(flag.pk)}"
    )
    Message.objects.bulk_create(
        [
            Message(
                patient=None,
                direction=Message.Direction.OUTBOUND,
                kind=Message.Kind.STAFF_ALERT,
                body=body,
                to_number=settings.ONCALL_SMS_NUMBER,
                status=Message.Status.QUEUED,
                idempotency_key=key,
                send_after=flag.created_at,
                urgent=True,
            )
        ],
        ignore_conflicts=True,
    )
    message = Message.objects.get(idempotency_key=key)
    outbox.wake(message.pk)
    return message


def _alerted(flag: Flag) -> bool:
    return flag.urgent_alerted_at is not None


def _mark_alerted(flag: Flag) -> None:
    """The caller holds the flag's row lock: the mark and the e-mail go together."""
    flag.urgent_alerted_at = timezone.now()
    flag.save(update_fields=["urgent_alerted_at"])


def _urgent_recipients(cohort: Cohort) -> list:
    coordinators = _reachable(cohort.coordinators.all())
    if coordinators:
        return coordinators
    logger.warning("Cohort #%s has no coordinator to e-mail: alerting the admins", cohort.pk)
    return _admins()


def _urgent_email(flag: Flag) -> tuple[str, str]:
    due = _local(flag.review_due_at, flag.patient.cohort.timezone)
    subject = f"Urgent skin report, flag #{flag.pk}, review by {due}"
    body = (
        f"A patient's skin report was triaged as urgent (flag #{flag.pk}).\n"
        f"Please review it by {due} and consider an urgent visit.\n\n"
        f"{flag_url(flag.pk)}\n"
    )
    return subject, body


def _urgent_flags_not_alerted(now: datetime) -> list[int]:
    """Urgent flags whose alert never went out (say, the broker lost the wake-up)."""
    return list(
        Flag.objects.filter(
            status__in=Flag.UNRESOLVED,
            urgency=Flag.Urgency.URGENT,
            urgent_alerted_at__isnull=True,
            review_due_at__gte=now - ALERT_CATCH_UP,
        )
        .order_by("review_due_at", "pk")
        .values_list("pk", flat=True)[:BATCH_SIZE]
    )


# --- Overdue escalation ---------------------------------------------------------------


def escalate_overdue(now: datetime) -> dict:
    """Escalate each unresolved flag past its deadlines, once per level.

    Past `review_due_at`: the cohort's coordinators. Past
    `lead_escalation_due_at`: the cohort's clinical leads, or, if it has
    none, its coordinators and every admin (the e-mail says why). Also
    re-sends any urgent alert that never went out. Returns counts.
    """
    counts = {
        "urgent_alerts": 0,
        FlagEscalation.Level.COORDINATORS.value: 0,
        FlagEscalation.Level.CLINICAL_LEAD.value: 0,
        "lead_fallback": 0,
        "failed": 0,
    }
    for flag_id in _urgent_flags_not_alerted(now):
        try:
            if alert_urgent(flag_id)["emailed"]:
                counts["urgent_alerts"] += 1
        except Exception:
            logger.exception("Urgent alert for flag #%s failed; retrying next tick", flag_id)
            counts["failed"] += 1

    levels = [
        (FlagEscalation.Level.COORDINATORS, "review_due_at"),
        (FlagEscalation.Level.CLINICAL_LEAD, "lead_escalation_due_at"),
    ]
    for level, deadline in levels:
        for flag in _due_for(level, deadline, now):
            try:
                outcome = _escalate(flag, level, now)
            except Exception:
                logger.exception("Escalating flag #%s to %s failed; retrying", flag.pk, level)
                counts["failed"] += 1
                continue
            if outcome:
                counts[level.value] += 1
                counts["lead_fallback"] += outcome == "fallback"
    return counts


def _due_for(level: str, deadline: str, now: datetime) -> list[Flag]:
    """Unresolved flags past `deadline` not yet escalated to `level` (partial indexes)."""
    done = FlagEscalation.objects.filter(flag=OuterRef("pk"), level=level)
    return list(
        Flag.objects.filter(status__in=Flag.UNRESOLVED, **{f"{deadline}__lt": now})
        .filter(~Exists(done))
        .select_related("patient__cohort")
        .order_by(deadline, "pk")[:BATCH_SIZE]
    )


def _escalate(flag: Flag, level: str, now: datetime) -> str:
    """Claim the (flag, level) row and send, in one transaction; "" if someone else did."""
    cohort = flag.patient.cohort
    fallback = False
    if level == FlagEscalation.Level.COORDINATORS:
        recipients = _urgent_recipients(cohort)
    else:
        recipients = _reachable(cohort.clinical_leads.all())
        if not recipients:
            fallback = True
            recipients = _reachable([*cohort.coordinators.all(), *_admins()])
            logger.warning(
                "Cohort #%s has no clinical lead: flag #%s escalated to coordinators and admins",
                cohort.pk,
                flag.pk,
            )
    try:
        with transaction.atomic():
            FlagEscalation.objects.create(
                flag=flag,
                level=level,
                escalated_at=now,
                notified=[user.pk for user in recipients],
            )
            if recipients:
                _send(*_escalation_email(flag, level, fallback), recipients)
            else:
                logger.error("Flag #%s is overdue and there is nobody to e-mail", flag.pk)
    except IntegrityError:
        return ""  # Another runner escalated it first.
    return "fallback" if fallback else "sent"


def _escalation_email(flag: Flag, level: str, fallback: bool) -> tuple[str, str]:
    zone = flag.patient.cohort.timezone
    due = _local(flag.review_due_at, zone)
    if level == FlagEscalation.Level.COORDINATORS:
        subject = f"Overdue review: {flag.urgency} skin report, flag #{flag.pk}, was due {due}"
        lines = [
            f"The review of flag #{flag.pk} ({flag.urgency}, {flag.status}) was due {due} "
            "and the flag is not resolved yet.",
            f"If it is still unresolved at {_local(flag.lead_escalation_due_at, zone)}, "
            "the cohort's clinical lead will be alerted.",
        ]
    else:
        subject = (
            f"Escalation to clinical lead: flag #{flag.pk} ({flag.urgency}) unresolved since {due}"
        )
        lines = [
            f"The review of flag #{flag.pk} ({flag.urgency}, {flag.status}) was due {due}; "
            f"it is still unresolved at twice its review deadline "
            f"({_local(flag.lead_escalation_due_at, zone)}).",
        ]
        if fallback:
            lines.append(
                "This cohort has no clinical lead, so this goes to its coordinators and "
                "the admins. Please assign a clinical lead to the cohort."
            )
    body = "\n".join([*lines, "", flag_url(flag.pk), ""])
    return subject, body


# --- Daily digest ---------------------------------------------------------------------


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
        for cohort_id in digest.cohort_ids:
            if cohort_id not in flags_by_cohort:
                flags_by_cohort[cohort_id] = list(
                    Flag.objects.filter(patient__cohort_id=cohort_id, status__in=Flag.UNRESOLVED)
                    .order_by("review_due_at", "pk")
                    .values_list("pk", "urgency", "status", "review_due_at")
                )
            digest.unresolved.extend(flags_by_cohort[cohort_id])
        digest.unresolved.sort(key=lambda row: (row[3], row[0]))
        digest.overdue_visits = _overdue_visits(digest.cohort_ids, digest.day)
        try:
            sent += _deliver(user, digest, now)
        except Exception:
            logger.exception("Daily digest for user #%s failed; retrying next hour", user.pk)
    return sent


def _overdue_visits(cohort_ids: list[int], today) -> int:
    """Visits still owed whose window has ended, or marked missed (as the API's ?overdue)."""
    return Visit.objects.filter(
        Q(status=Visit.Status.MISSED)
        | Q(status__in=[Visit.Status.PLANNED, Visit.Status.BOOKED], window_end__lt=today),
        patient__cohort_id__in=cohort_ids,
        patient__is_active=True,
    ).count()


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
                _send(*_digest_email(digest, now), [user])
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
                f"{_local(review_due_at, digest.zone)}: {flag_url(pk)}"
            )
            shown += 1
    if shown < len(digest.unresolved):
        lines += ["", f"... and {len(digest.unresolved) - shown} more: {flags_url()}"]
    return subject, "\n".join([*lines, ""])
