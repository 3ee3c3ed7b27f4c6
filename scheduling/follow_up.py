"""How long a patient is followed up: the active protocol's length from the end of treatment.

Registered with `cohorts.hooks` so the API and the import refuse a patient
whose follow-up is already over (nothing would be planned) with a clear 400.
"""

from dateutil.relativedelta import relativedelta

from cohorts import hooks, site_days
from cohorts.models import Cohort

from .models import Protocol


@hooks.limits_follow_up
def protocol_length(cohort: Cohort) -> hooks.FollowUpLimit | None:
    """Treatment must have ended at most the protocol's follow-up length before the site's today."""
    protocol = Protocol.objects.filter(status=Protocol.Status.ACTIVE).first()
    if protocol is None:
        return None  # nothing is planned for anyone until a protocol is active
    months = protocol.follow_up_months
    earliest = site_days.today(cohort) - relativedelta(months=months)
    reason = (
        f"Primary treatment that ended before {earliest:%Y-%m-%d} is past the protocol's "
        f"{months}-month follow-up: nothing would be planned. Check the date."
    )
    return hooks.FollowUpLimit(earliest, reason)
