"""Move DRF's plaintext API keys (authtoken_token) to hashed ApiToken rows, then delete the plaintext copies.

Clients keep working with the key they have: its digest is stored (knox's hash), its first characters as the
prefix, and it expires API_TOKEN_TTL_DAYS from now. Each move is audited.
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def move_keys(apps, schema_editor):
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("queue_app", "ApiToken")
    AuditEntry = apps.get_model("queue_app", "AuditEntry")
    expiry = timezone.now() + timedelta(days=settings.API_TOKEN_TTL_DAYS)
    for old in Token.objects.select_related("user"):
        ApiToken.objects.create(
            digest=hash_token(old.key),
            token_key=old.key[: CONSTANTS.TOKEN_KEY_LENGTH],
            user=old.user,
            created=old.created,
            expiry=expiry,
        )
        AuditEntry.objects.create(
            actor_name="system",
            source="system",
            action="token.hash",
            object_type="token",
            object_id=str(old.user_id),
            after={"user": old.user.username, "key_prefix": old.key[: CONSTANTS.TOKEN_KEY_LENGTH]},
        )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("queue_app", "0008_api_token_hashed"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(move_keys, migrations.RunPython.noop)]
