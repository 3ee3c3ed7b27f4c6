"""A signed-in session asked for a second factor goes nowhere else until it gives one.

Runs after django-otp's `OTPMiddleware` (which tells whether the session is
verified). A user who must use two-factor and has no authenticator yet is
sent to enrol; one who has is sent to give a code. Sign-in, sign-out, the
two-factor pages, static files and the health check stay open. API calls
with a token are not sessions: a code is asked when the token is issued.
"""

from django.shortcuts import redirect
from django.urls import reverse

from . import two_factor

OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz")


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not user.is_verified()
            and not request.path.startswith(OPEN_PREFIXES)
            and two_factor.asked_of(user)
        ):
            step = "verify" if two_factor.enrolled(user) else "two-factor-setup"
            return redirect(f"{reverse(step)}?next={request.get_full_path()}")
        return self.get_response(request)
