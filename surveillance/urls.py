from django.urls import path
from rest_framework.routers import DefaultRouter

from .dashboard import DashboardView
from .views import FlagViewSet, LesionReportViewSet

router = DefaultRouter(trailing_slash=True)
router.include_format_suffixes = False  # JSON only: no ".json" twin of every route
router.register("lesion-reports", LesionReportViewSet, basename="lesion-report")
router.register("flags", FlagViewSet, basename="flag")

urlpatterns = [path("dashboard/", DashboardView.as_view(), name="dashboard"), *router.urls]
