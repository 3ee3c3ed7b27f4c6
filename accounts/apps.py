from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Staff sign-in: expiring hashed API tokens, two-factor sign-in, password reset."""

    name = "accounts"

    def ready(self):
        from . import schema  # noqa: F401 - registers the token scheme with drf-spectacular
