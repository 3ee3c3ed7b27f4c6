"""API tokens: hashed at rest (django-rest-knox), expiring, one per device."""

from django.db import models
from knox.models import AbstractAuthToken


class ApiToken(AbstractAuthToken):
    """A user's token for one device. Only its digest is stored: the token is shown once.

    `token_key` (its first characters) finds it, `digest` proves it; `expiry`
    ends it (API_TOKEN_DAYS after it was issued). Issuing a token for a device
    that has one replaces it.
    """

    device = models.CharField(max_length=100, help_text="What it is for, e.g. 'clinic laptop'.")
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "device"], name="api_token_one_per_device")
        ]

    def __str__(self) -> str:
        return f"API token of {self.user} for {self.device}"
