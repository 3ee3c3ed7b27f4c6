from rest_framework.routers import DefaultRouter

from .patient_messages import MessageViewSet
from .views import CohortViewSet, PatientViewSet

router = DefaultRouter(trailing_slash=True)
router.include_format_suffixes = False  # JSON only: no ".json" twin of every route
router.register("cohorts", CohortViewSet, basename="cohort")
router.register("patients", PatientViewSet, basename="patient")
router.register("messages", MessageViewSet, basename="message")

urlpatterns = router.urls
