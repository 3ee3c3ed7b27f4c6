"""What a locked-out sign-in is answered (django-axes' lockout callable).

The API answers JSON with Retry-After, as its other errors do; the web pages
answer the lockout page. Both are 429.
"""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render

MESSAGE = "Sign-in temporarily locked after repeated failures."


def locked_out(request, original_response=None, credentials=None):
    minutes = settings.AXES_COOLOFF_TIME * 60
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": MESSAGE}, status=429)
        response["Retry-After"] = str(int(minutes * 60))
        return response
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, {"minutes": minutes}, status=429)
