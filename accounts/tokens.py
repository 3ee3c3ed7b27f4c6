"""Issuing, using and revoking API tokens.

Clients send `Authorization: Token <token>` as before; the token is checked
against its hash (knox) and refused once expired. Its last use is kept, at
most once a minute, so a user and an admin can see which device still uses it.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from knox.auth import TokenAuthentication

from audit import trail

from .models import ApiToken

LAST_USE_GRANULARITY = timedelta(minutes=1)


@transaction.atomic
def issue(request, user, device: str) -> tuple[ApiToken, str]:
    """A new token for `user` on `device` (replacing that device's), audited; the raw token."""
    ApiToken.objects.filter(user=user, device=device).delete()
    token, raw = ApiToken.objects.create(user=user, device=device)
    trail.record(request, trail.Action.CREATE, None, "api_token", token.token_key)
    return token, raw


@transaction.atomic
def revoke(request, token: ApiToken) -> None:
    trail.record(request, trail.Action.DELETE, None, "api_token", token.token_key)
    token.delete()


class ApiTokenAuthentication(TokenAuthentication):
    """knox's token check, noting when each token was last used."""

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USE_GRANULARITY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token
