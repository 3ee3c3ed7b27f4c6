from rest_framework.routers import DefaultRouter

from .views import VisitViewSet

router = DefaultRouter(trailing_slash=True)
router.register("visits", VisitViewSet, basename="visit")

urlpatterns = router.urls
