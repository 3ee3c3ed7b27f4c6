from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Staff sign-in: expiring hashed API tokens, two-factor sign-in, password reset."""

    name = "accounts"
