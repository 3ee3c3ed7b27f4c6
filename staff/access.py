"""Who may open the staff pages: admins and the care teams of at least one cohort.

Every page then shows only the user's cohorts (`cohorts.access`), exactly as
the API does.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.views.decorators.cache import never_cache

from cohorts.access import cohorts_for, is_admin


def is_staff_member(user) -> bool:
    return is_admin(user) or cohorts_for(user).exists()


def staff_page(view):
    """Signed in, on a care team (else 403), and never cached: the pages carry patients."""

    @wraps(view)
    def checked(request, *args, **kwargs):
        if not is_staff_member(request.user):
            raise PermissionDenied("The staff pages are for care teams and admins.")
        return view(request, *args, **kwargs)

    return never_cache(login_required(checked))
