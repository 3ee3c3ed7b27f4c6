"""The answers staff pages give to what they cannot do."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme


def refused(request: HttpRequest, text: str, status: int = 400) -> HttpResponse:
    """A clear 4xx that changed nothing: the row says why (htmx), or a plain page."""
    template = "staff/rows/refused.html" if request.htmx else "staff/refused.html"
    return render(request, template, {"text": text}, status=status)


def back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Redirect to the page the form came from (`next`, on this site only), else `fallback`."""
    wanted = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(wanted if wanted and safe else fallback)
