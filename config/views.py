from django.views.generic import TemplateView


class HomeView(TemplateView):
    """The landing page: where to sign in, the API and its documentation."""

    template_name = "home.html"
