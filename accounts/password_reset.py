"""Password reset by e-mail for staff (Django's own views), with rate limits.

At most PASSWORD_RESET_PER_HOUR requests an hour from one address, and as
many for one e-mail address. Past either, the page says the same as always
("if the address is known, an e-mail is on its way") and no e-mail goes: the
answer never tells whether an address belongs to a user.
"""

import logging
import time

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect

from audit.addresses import client_address

from .rate_limits import count_in_window

logger = logging.getLogger(__name__)

HOUR = 3600


class RateLimitedPasswordResetView(auth_views.PasswordResetView):
    def form_valid(self, form):
        if self._over_limit(form.cleaned_data["email"].casefold()):
            logger.warning("Password reset refused: too many requests")
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)

    def _over_limit(self, email: str) -> bool:
        limit, now = settings.PASSWORD_RESET_PER_HOUR, time.time()
        keys = [
            f"password-reset:address:{client_address(self.request)}",
            f"password-reset:email:{email}",
        ]
        try:
            return any(count_in_window(key, HOUR, now)[0] > limit for key in keys)
        except Exception:
            logger.warning("Password reset limit not checked: the cache is unreachable")
            return False
