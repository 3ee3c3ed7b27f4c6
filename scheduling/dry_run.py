"""What activating a draft protocol would change, shown before it is activated.

For the patients in follow-up, tier by tier: the visits falling due and the
self-exam reminders going out in the next 12 months under the active
protocol and under the draft, and how many patients would gain or lose
visits or reminders. Patients with the same tier and treatment end get the
same plan, so each pair is planned once: a few thousand plans whatever the
size of the cohorts. Reminders are counted at 10:00 UTC; a patient's own zone
and time move at most one reminder across the 12-month edges.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time

from dateutil.relativedelta import relativedelta
from django.db.models import Count
from django.utils import timezone

from cohorts.models import Patient
from cohorts.risk import Tier

from . import planner
from .models import Protocol

AHEAD = relativedelta(months=12)
_REMINDER_TIME = time(10, 0)


@dataclass
class TierChange:
    """One tier's next 12 months, under the active protocol ("now") and the draft."""

    tier: str
    patients: int = 0
    visits_now: int = 0
    visits_draft: int = 0
    reminders_now: int = 0
    reminders_draft: int = 0
    gain_visits: int = 0
    lose_visits: int = 0
    gain_reminders: int = 0
    lose_reminders: int = 0

    def add(self, count: int, now: tuple[int, int], draft: tuple[int, int]) -> None:
        """`count` patients due (visits, reminders) `now` and under the `draft`."""
        self.patients += count
        self.visits_now += count * now[0]
        self.visits_draft += count * draft[0]
        self.reminders_now += count * now[1]
        self.reminders_draft += count * draft[1]
        self.gain_visits += count * (draft[0] > now[0])
        self.lose_visits += count * (draft[0] < now[0])
        self.gain_reminders += count * (draft[1] > now[1])
        self.lose_reminders += count * (draft[1] < now[1])


def compare(draft: Protocol, now: datetime | None = None) -> list[TierChange]:
    """The next 12 months of every active patient under the active protocol and `draft`."""
    now = now or timezone.now()
    start = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    end = start + AHEAD
    rules = (Protocol.objects.active().rules_by_tier(), draft.rules_by_tier())
    groups = (
        Patient.objects.filter(is_active=True)
        .values_list("risk_tier", "profile__treatment_end_date")
        .annotate(count=Count("pk"))
    )
    changes = {tier.value: TierChange(tier.value) for tier in Tier}
    for tier, treatment_end, count in groups:
        now_due, draft_due = (
            _due(protocol[Tier(tier)], treatment_end, start, end) for protocol in rules
        )
        changes[tier].add(count, now_due, draft_due)
    return [change for change in changes.values() if change.patients]


def _due(rules: planner.TierProtocol, treatment_end, start, end) -> tuple[int, int]:
    plan = planner.plan(
        rules,
        treatment_end=treatment_end,
        enrolled_on=start.date(),
        timezone="UTC",
        reminder_time=_REMINDER_TIME,
        now=start,
    )
    return planner.due_between(plan, start, end)
