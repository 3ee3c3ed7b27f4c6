"""E-mail to the care team about flags: who gets it, and how it is sent.

E-mail is not a private channel either: subjects and bodies carry only flag
numbers, urgency, deadlines and links, never a patient's name, MRN, phone or
a diagnosis; the link leads to the record behind a login.
"""

import logging
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db.models import Q
from django.urls import reverse

from cohorts.access import ADMIN_GROUP
from cohorts.models import Cohort

logger = logging.getLogger(__name__)


def flag_url(flag_id: int) -> str:
    """The flag's page in the staff web, where it is reviewed."""
    return settings.PUBLIC_BASE_URL + reverse("staff:flag", kwargs={"flag_id": flag_id})


def flags_url() -> str:
    """The Today list, whose first section is the flags to review."""
    return settings.PUBLIC_BASE_URL + reverse("staff:today")


def local_time(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def reachable(users: Iterable) -> list:
    """Active users with an e-mail address, in id order, once each."""
    seen = {}
    for user in users:
        if user.is_active and user.email and user.pk not in seen:
            seen[user.pk] = user
    return [seen[pk] for pk in sorted(seen)]


def admins() -> list:
    User = get_user_model()
    return reachable(
        User.objects.filter(Q(is_superuser=True) | Q(groups__name=ADMIN_GROUP)).distinct()
    )


def send(subject: str, body: str, users: list) -> None:
    """One e-mail to all of `users`; raises if the mail server refuses it."""
    EmailMessage(subject, body, to=[user.email for user in users]).send(fail_silently=False)


def coordinators_or_admins(cohort: Cohort) -> list:
    coordinators = reachable(cohort.coordinators.all())
    if coordinators:
        return coordinators
    logger.warning("Cohort #%s has no coordinator to e-mail: alerting the admins", cohort.pk)
    return admins()
