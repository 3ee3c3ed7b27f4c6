from rest_framework.routers import SimpleRouter

from .views import PatientWithdrawalViewSet

router = SimpleRouter(trailing_slash=True)
# Only the withdraw action: the rest of /patients/ is the cohorts app's router.
router.register("patients", PatientWithdrawalViewSet, basename="patient")

urlpatterns = router.urls
