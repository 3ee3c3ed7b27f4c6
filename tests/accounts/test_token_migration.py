"""Plain-text tokens from before are hashed by the migration and keep working until they expire."""

import importlib

import pytest
from django.apps import apps
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db]

migration = importlib.import_module("accounts.migrations.0002_hash_plain_text_tokens")


def test_an_old_token_keeps_working_hashed_and_expiring(settings):
    old = Token.objects.create(user=UserFactory(role="coordinator"))

    migration.hash_plain_text_tokens(apps, None)

    assert not Token.objects.exists()
    stored = ApiToken.objects.get()
    assert old.key not in (stored.digest, stored.token_key) and stored.expiry is not None
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old.key}")
    assert client.get("/api/v1/cohorts/").status_code == 200
