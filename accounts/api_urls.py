from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.include_format_suffixes = False
router.register("auth/tokens", views.ApiTokenViewSet, basename="api-token")

urlpatterns = [
    path("auth/token/", views.IssueTokenView.as_view(), name="auth-token"),
    *router.urls,
]
