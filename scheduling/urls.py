from rest_framework.routers import DefaultRouter

from .views import PatientScheduleViewSet, VisitViewSet

router = DefaultRouter(trailing_slash=True)
router.include_format_suffixes = False  # JSON only: no ".json" twin of every route
router.register("visits", VisitViewSet, basename="visit")
router.register("patients", PatientScheduleViewSet, basename="patient")

urlpatterns = router.urls
