from rest_framework.routers import DefaultRouter

from .views import CohortViewSet, PatientViewSet

router = DefaultRouter(trailing_slash=True)
router.register("cohorts", CohortViewSet, basename="cohort")
router.register("patients", PatientViewSet, basename="patient")

urlpatterns = router.urls
