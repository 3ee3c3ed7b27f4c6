from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """The SMS outbox, its backends, dispatch, inbound SMS and consent."""

    name = "notifications"
