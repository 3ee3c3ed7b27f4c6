"""Overdue escalation: a flag nobody reviewed in time goes up, level by level.

One of three jobs that keep a lesion flag from being missed (with `alerts`
and `digest`; docs/architecture.md, "One lesion report from SMS to review"):

- `escalate_overdue` (beat, every minute): an unresolved flag past
  `review_due_at` is e-mailed to the coordinators, and past
  `lead_escalation_due_at` (twice the SLA) to the cohort's clinical leads,
  each level once (the unique `FlagEscalation(flag, level)` says so).
  It also re-sends any urgent alert that never went out.

Every function may run twice or concurrently and still sends once. The
claim (a row, or the flag's row lock and `urgent_alerted_at`) is written in the
same transaction as the send, and the e-mail goes out *before* that
transaction commits: if the mail server refuses it, the claim rolls back and
the next tick tries again (at least once), while a concurrent runner blocks
on the claim and then skips (at most once, save a crash between the send and
the commit).
"""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from . import alerts, care_teams
from .models import Flag, FlagEscalation
from .staff_mail import admins, flag_url, local_time, reachable, send

logger = logging.getLogger(__name__)

# At most this many flags per level per tick: the rest wait a minute.
BATCH_SIZE = 200


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
    for flag_id in alerts.urgent_flags_not_alerted(now):
        try:
            if alerts.alert_urgent(flag_id)["emailed"]:
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
        .select_related("patient__cohort", "message")
        .order_by(deadline, "pk")[:BATCH_SIZE]
    )


def _escalate(flag: Flag, level: str, now: datetime) -> str:
    """Claim the (flag, level) row and send, in one transaction; "" if someone else did."""
    cohorts = care_teams.cohorts_of(flag)
    fallback = False
    if level == FlagEscalation.Level.COORDINATORS:
        recipients = care_teams.coordinators(flag)
    else:
        recipients = reachable(lead for cohort in cohorts for lead in cohort.clinical_leads.all())
        if not recipients:
            fallback = True
            coordinators = [user for cohort in cohorts for user in cohort.coordinators.all()]
            recipients = reachable([*coordinators, *admins()])
            logger.warning(
                "No clinical lead for flag #%s (cohorts %s): escalated to coordinators and admins",
                flag.pk,
                [cohort.pk for cohort in cohorts],
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
                send(*_escalation_email(flag, level, fallback), recipients)
            else:
                logger.error("Flag #%s is overdue and there is nobody to e-mail", flag.pk)
    except IntegrityError:
        return ""  # Another runner escalated it first.
    return "fallback" if fallback else "sent"


def _escalation_email(flag: Flag, level: str, fallback: bool) -> tuple[str, str]:
    zone = care_teams.zone(flag)
    due = local_time(flag.review_due_at, zone)
    if level == FlagEscalation.Level.COORDINATORS:
        subject = f"Overdue review: {flag.urgency} skin report, flag #{flag.pk}, was due {due}"
        lines = [
            f"The review of flag #{flag.pk} ({flag.urgency}, {flag.status}) was due {due} "
            "and the flag is not resolved yet.",
            f"If it is still unresolved at {local_time(flag.lead_escalation_due_at, zone)}, "
            "the cohort's clinical lead will be alerted.",
        ]
    else:
        subject = (
            f"Escalation to clinical lead: flag #{flag.pk} ({flag.urgency}) unresolved since {due}"
        )
        lines = [
            f"The review of flag #{flag.pk} ({flag.urgency}, {flag.status}) was due {due}; "
            f"it is still unresolved at twice its review deadline "
            f"({local_time(flag.lead_escalation_due_at, zone)}).",
        ]
        if fallback:
            lines.append(
                "This cohort has no clinical lead, so this goes to its coordinators and "
                "the admins. Please assign a clinical lead to the cohort."
            )
    body = "\n".join([*lines, "", flag_url(flag.pk), ""])
    return subject, body
