"""The default follow-up protocol for each risk tier, as pure data.

The database holds the protocol actually in use; this is what it is seeded from.

Sources:

* ASCO breast cancer follow-up and management guideline (Khatcheressian JL et al., J Clin Oncol
  2013;31:961-965): history and physical examination every 3-6 months in years 1-3, every
  6-12 months in years 4-5, then yearly; yearly mammography.
* van Maaren MC et al., Int J Cancer 2018: HER2-positive and triple-negative recurrences peak in
  years 1-3, so the high and very high tiers sit at the 3-month end of the ASCO range.

Months count from the end of primary treatment. Clinic visits every 3 months get a window of
+/- 14 days, every other visit +/- 28 days. Skin self-exam reminders are sent by SMS.
"""

from cohorts.risk import Tier
from scheduling.planner import Frequency, ReminderRule, TierProtocol, VisitKind, VisitRule

PROTOCOL_NAME = "Default breast cancer follow-up"
PROTOCOL_VERSION = "2026.1"

_YEARLY_MAMMOGRAPHY = VisitRule(
    VisitKind.IMAGING, start_month=0, end_month=None, interval_months=12, window_days=28
)


def _clinic(start_month: int, end_month: int | None, interval_months: int) -> VisitRule:
    window_days = 14 if interval_months == 3 else 28
    return VisitRule(VisitKind.CLINIC, start_month, end_month, interval_months, window_days)


def _self_exam(
    start_month: int, end_month: int | None, frequency: Frequency, interval: int
) -> ReminderRule:
    return ReminderRule("self_exam", start_month, end_month, frequency, interval)


DEFAULT_PROTOCOL: dict[Tier, TierProtocol] = {
    Tier.VERY_HIGH: TierProtocol(
        visit_rules=(
            _clinic(0, 36, interval_months=3),
            _clinic(36, 60, interval_months=3),
            _clinic(60, None, interval_months=6),
            _YEARLY_MAMMOGRAPHY,
        ),
        reminder_rules=(
            _self_exam(0, 36, Frequency.WEEKLY, interval=1),
            _self_exam(36, None, Frequency.WEEKLY, interval=2),
        ),
        follow_up_months=120,
    ),
    Tier.HIGH: TierProtocol(
        visit_rules=(
            _clinic(0, 36, interval_months=3),
            _clinic(36, 60, interval_months=6),
            _clinic(60, None, interval_months=12),
            _YEARLY_MAMMOGRAPHY,
        ),
        reminder_rules=(
            _self_exam(0, 36, Frequency.WEEKLY, interval=2),
            _self_exam(36, None, Frequency.MONTHLY, interval=1),
        ),
        follow_up_months=120,
    ),
    Tier.STANDARD: TierProtocol(
        visit_rules=(
            _clinic(0, 36, interval_months=6),
            _clinic(36, 60, interval_months=12),
            _clinic(60, None, interval_months=12),
            _YEARLY_MAMMOGRAPHY,
        ),
        reminder_rules=(
            _self_exam(0, 36, Frequency.MONTHLY, interval=1),
            _self_exam(36, None, Frequency.MONTHLY, interval=1),
        ),
        follow_up_months=120,
    ),
}
