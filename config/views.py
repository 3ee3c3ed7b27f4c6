from django.http import JsonResponse
from django.views.defaults import page_not_found
from django.views.generic import TemplateView


class HomeView(TemplateView):
    """The landing page: where to sign in, the API and its documentation."""

    template_name = "home.html"


def not_found(request, exception=None):
    """404 for a URL no route matches: JSON under /api/ (as the API's own 404s), else the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
