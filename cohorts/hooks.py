"""What cohorts asks of the apps above it, through a registry it owns.

- Follow-up limits: "how long ago may a patient's primary treatment have
  ended for them to be followed up in this cohort today?" Each registered
  limit gets the cohort and returns the earliest treatment end it can still
  plan for, with the reason, or None for no limit. The scheduling app
  answers from the active protocol's follow-up length, so the API and the
  import refuse (400) a patient for whom nothing would be planned, instead of
  enrolling them with an empty plan and no word.

A registry is a plain list filled at start-up (`AppConfig.ready`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from .models import Cohort


@dataclass(frozen=True)
class FollowUpLimit:
    earliest_treatment_end: date
    """A treatment that ended before this day leaves nothing to follow up."""
    reason: str


FollowUpLimitFn = Callable[[Cohort], FollowUpLimit | None]

_follow_up_limits: list[FollowUpLimitFn] = []


def limits_follow_up(limit: FollowUpLimitFn) -> FollowUpLimitFn:
    """Register a follow-up limit (usable as a decorator)."""
    if limit not in _follow_up_limits:
        _follow_up_limits.append(limit)
    return limit


def follow_up_limit(cohort: Cohort) -> FollowUpLimit | None:
    """The strictest registered limit for the cohort today, or None."""
    limits = [found for limit in _follow_up_limits if (found := limit(cohort)) is not None]
    return max(limits, key=lambda found: found.earliest_treatment_end, default=None)
