from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .password_reset import RateLimitedPasswordResetView

urlpatterns = [
    path("accounts/verify/", views.verify, name="verify"),
    path("accounts/two-factor/setup/", views.setup, name="two-factor-setup"),
    path("accounts/two-factor/recovery-codes/", views.recovery_codes, name="recovery-codes"),
    path("accounts/password-reset/", RateLimitedPasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password-reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
