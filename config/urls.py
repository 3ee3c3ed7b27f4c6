from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from audit.autocomplete import AuditedAutocompleteJsonView
from notifications import webhooks
from surveillance import web_reports

from .health import healthz
from .views import HomeView

# Swagger UI sets inline styles; it gets them, and nothing else on the site does.
api_docs = csp_update({"style-src": ["'unsafe-inline'"]})(
    SpectacularSwaggerSplitView.as_view(url_name="schema")
)

api_v1 = [
    path("", include("cohorts.urls")),
    path("", include("scheduling.urls")),
    path("", include("surveillance.urls")),
    path("", include("records.urls")),
    path("", include("accounts.api_urls")),
]

handler404 = "config.views.not_found"

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("accounts.urls")),
    # The admin's autocomplete, audited (what it lists of patients' records); ahead of the
    # admin's own, at the same address and through the same checks.
    path(
        "admin/autocomplete/",
        admin.site.admin_view(AuditedAutocompleteJsonView.as_view(admin_site=admin.site)),
    ),
    path("admin/", admin.site.urls),
    path("staff/", include("staff.urls")),
    path("webhooks/twilio/sms/", webhooks.inbound_sms, name="twilio-sms"),
    path("webhooks/twilio/status/", webhooks.delivery_status, name="twilio-status"),
    # Lesion reports on the web: the patient's one-time link, staff entry, private photos.
    path("r/<str:nonce>/", web_reports.report_form, name="lesion-link"),
    path("r/<str:nonce>/thanks/", web_reports.report_thanks, name="lesion-link-thanks"),
    path(
        "patients/<int:patient_id>/lesion-report/",
        web_reports.staff_report_form,
        name="lesion-report-new",
    ),
    path(
        "patients/<int:patient_id>/lesion-reports/<int:report_id>/",
        web_reports.staff_report_recorded,
        name="lesion-report-recorded",
    ),
    path("lesion-photos/<int:photo_id>/", web_reports.lesion_photo, name="lesion-photo"),
    path("api/v1/", include(api_v1)),
    path("fhir/r4/", include("fhir_r4.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
]
