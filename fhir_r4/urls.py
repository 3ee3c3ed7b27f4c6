from django.urls import path

from . import views

app_name = "fhir"

urlpatterns = [
    path("", views.BundleImport.as_view(), name="bundle-import"),
    path("metadata", views.Metadata.as_view(), name="metadata"),
    path("Patient/<int:patient_id>", views.PatientRead.as_view(), name="patient"),
    path("Patient/<int:patient_id>/$everything", views.Everything.as_view(), name="everything"),
    path(
        "Patient/<int:patient_id>/record.zip",
        views.SubjectAccessArchive.as_view(),
        name="subject-access",
    ),
    path("Group/<int:cohort_id>/$export", views.GroupExport.as_view(), name="group-export"),
    path("bulk-status/<uuid:export_id>", views.BulkStatus.as_view(), name="bulk-status"),
    path(
        "bulk-files/<uuid:export_id>/<str:kind>.ndjson",
        views.BulkFile.as_view(),
        name="bulk-file",
    ),
]
