"""Who may open the staff pages: admins and the care teams of at least one cohort.

Every page then shows only the user's cohorts (`cohorts.access`), exactly as
the API does; a record asked for by id that is not among the user's answers
404 (`mine_or_404`), and the audit trail keeps the probe, as the API's and the
admin's do.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.views.decorators.cache import never_cache

from audit import trail
from cohorts.access import cohorts_for, is_admin


def is_staff_member(user) -> bool:
    return is_admin(user) or cohorts_for(user).exists()


class NotYours(Http404):
    """A record asked for by id that is not among the user's (or does not exist).

    A plain 404 to the caller; `staff_page` records the probe once the view has
    let go of it, outside any transaction the view opened (a rolled-back
    probe would be no record at all).
    """

    def __init__(self, queryset: QuerySet, object_id, object_type: str, whose) -> None:
        super().__init__(f"No such {object_type}.")
        self.model, self.object_id, self.object_type, self.whose = (
            queryset.model,
            object_id,
            object_type,
            whose,
        )


def message_patient_id(message) -> int | None:
    """Whose an SMS is: its subject's (None: from a number that is not one patient's)."""
    return message.subject_id


def mine_or_404(queryset: QuerySet, object_id, object_type: str, whose=trail.patient_id_of):
    """The record of `queryset` (the user's) with this id, else `NotYours` (a 404).

    `whose` says whose record one of them is (default: a patient, or anything
    with a `patient_id`; `None`: records of no one patient).
    """
    try:
        return queryset.get(pk=object_id)
    except queryset.model.DoesNotExist:
        raise NotYours(queryset, object_id, object_type, whose) from None


def staff_page(view):
    """Signed in, on a care team (else 403), and never cached: the pages carry patients.

    A record asked for and not among the user's is a 404 whose probe is audited.
    """

    @wraps(view)
    def checked(request, *args, **kwargs):
        if not is_staff_member(request.user):
            raise PermissionDenied("The staff pages are for care teams and admins.")
        try:
            return view(request, *args, **kwargs)
        except NotYours as probe:
            trail.record_probe(
                request, probe.model, probe.object_id, probe.object_type, probe.whose
            )
            raise

    return never_cache(login_required(checked))
