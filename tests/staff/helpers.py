from django.test import Client


def signed_in(user) -> Client:
    """A browser session signed in as `user` (no second factor: see tests/settings.py)."""
    client = Client()
    client.force_login(user)
    return client
