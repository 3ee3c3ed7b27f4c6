"""Fewer indexes to write for each outbox row.

The foreign keys' own indexes on contact and subject_type repeat the leading
column of `message_contact_sent` and `message_subject`; reviewed_by and
provider_sid are empty on most rows, so their indexes now hold only the rows
that have one. No query matches an idempotency key by pattern any more: it
loses its `_like` index and keeps its unique constraint, now declared on the
model under the name it already has. The indexes are dropped by name, not by altering
the fields: Django would drop and re-add each foreign key, checking every row
of the table under an exclusive lock.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

KEY_LIKE = "notifications_message_idempotency_key_78ab982c_like"
FK_INDEXES = {
    "contact_id": "notifications_message_contact_id_7589e86e",
    "subject_type_id": "notifications_message_subject_type_id_6a0282a7",
    "reviewed_by_id": "notifications_message_reviewed_by_id_f7a66ed0",
}


def _drop(name: str, definition: str) -> migrations.RunPython:
    """Drop an index (PostgreSQL's: SQLite never had the pattern index); put it back on reverse."""

    def forward(apps, schema_editor):
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql" or "pattern_ops" not in definition:
            schema_editor.execute(f'CREATE INDEX "{name}" ON "notifications_message" {definition}')

    return migrations.RunPython(forward, backward)


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('notifications', '0005_message_first_due_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[_drop(name, f'("{column}")') for column, name in FK_INDEXES.items()],
            state_operations=[
                migrations.AlterField(
                    model_name='message',
                    name='contact',
                    field=models.ForeignKey(blank=True, db_index=False, help_text='Empty for staff alerts to the on-call number.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='messages', to='notifications.contact'),
                ),
                migrations.AlterField(
                    model_name='message',
                    name='reviewed_by',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='message',
                    name='subject_type',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='contenttypes.contenttype'),
                ),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[_drop(KEY_LIKE, '("idempotency_key" varchar_pattern_ops)')],
            state_operations=[
                migrations.AlterField(
                    model_name='message',
                    name='idempotency_key',
                    field=models.CharField(blank=True, max_length=200, null=True),
                ),
                migrations.AddConstraint(
                    model_name='message',
                    constraint=models.UniqueConstraint(fields=('idempotency_key',), name='notifications_message_idempotency_key_key'),
                ),
            ],
        ),
        migrations.AlterField(
            model_name='message',
            name='provider_sid',
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(condition=models.Q(('reviewed_by__isnull', False)), fields=['reviewed_by'], name='message_reviewed_by'),
        ),
        migrations.AddConstraint(
            model_name='message',
            constraint=models.UniqueConstraint(condition=models.Q(('provider_sid__isnull', False)), fields=('provider_sid',), name='message_provider_sid'),
        ),
    ]
