"""The answers staff pages give to what they cannot do."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def refused(request: HttpRequest, text: str, status: int = 400) -> HttpResponse:
    """A clear 4xx that changed nothing: the row says why (htmx), or a plain page."""
    template = "staff/rows/refused.html" if request.htmx else "staff/refused.html"
    return render(request, template, {"text": text}, status=status)
