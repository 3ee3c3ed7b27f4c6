"""The plain-text API tokens of rest_framework.authtoken become hashed, expiring ApiTokens.

A client keeps using its token as before (same `Authorization: Token <key>`);
only its hash is kept now, and it expires API_TOKEN_DAYS after this migration.
The plain-text rows are deleted.
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone
from knox.crypto import hash_token
from knox.settings import CONSTANTS


def hash_plain_text_tokens(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("accounts", "ApiToken")
    expiry = timezone.now() + timedelta(days=settings.API_TOKEN_DAYS)
    ApiToken.objects.bulk_create(
        ApiToken(
            digest=hash_token(token.key),
            token_key=token.key[: CONSTANTS.TOKEN_KEY_LENGTH],
            user_id=token.user_id,
            expiry=expiry,
            device="token from before hashing",
        )
        for token in Token.objects.all()
    )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(hash_plain_text_tokens, migrations.RunPython.noop)]
