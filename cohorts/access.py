"""Who sees what: cohort membership decides, for every path into the data.

A record outside the user's cohorts is simply not in their querysets, so the
API answers 404 for it and never confirms that it exists.
"""

from django.db.models import Q, QuerySet

from .models import Cohort, Patient

ADMIN_GROUP = "admin"


def is_admin(user) -> bool:
    """Remembered on the user object, as Django remembers its permissions (`_perm_cache`):
    one page asks several times, and the object lives for one request."""
    if user.is_superuser:
        return True
    if not hasattr(user, "_is_admin"):
        user._is_admin = user.groups.filter(name=ADMIN_GROUP).exists()
    return user._is_admin


def cohorts_for(user) -> QuerySet[Cohort]:
    if not user.is_authenticated:
        return Cohort.objects.none()
    if is_admin(user):
        return Cohort.objects.all()
    return Cohort.objects.filter(Q(coordinators=user) | Q(clinical_leads=user)).distinct()


def patients_for(user) -> QuerySet[Patient]:
    return Patient.objects.filter(cohort__in=cohorts_for(user))


def can_resolve(user, cohort: Cohort) -> bool:
    """Resolving a flag is a clinical decision: the cohort's clinical leads, or admins."""
    return is_admin(user) or cohort.clinical_leads.filter(pk=user.pk).exists()
