"""Make the audit table append-only in PostgreSQL itself.

A BEFORE UPDATE OR DELETE row trigger raises, so neither the ORM nor raw SQL
from the application's database role can rewrite or remove an audit event.
TRUNCATE is deliberately NOT blocked: it fires no row triggers, and
pytest-django's transactional tests flush every table with TRUNCATE between
tests. In production, revoke TRUNCATE (and ideally UPDATE/DELETE) on the
table from the application's role as well; retention purges, if ever needed,
are done by a DBA with the trigger disabled, outside the application.

On other databases (the embedded SQLite of `make run`) this is a no-op; the
model's save()/delete() still refuse there.
"""

from django.db import migrations

TABLE = "surveillance_auditevent"

# Separate statements, executed one by one with params=None so that the
# "%" placeholders of RAISE are not taken for query parameters.
CREATE = [
    """
CREATE OR REPLACE FUNCTION surveillance_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP;
END;
$$
""",
    f"DROP TRIGGER IF EXISTS auditevent_append_only ON {TABLE}",
    f"""
CREATE TRIGGER auditevent_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION surveillance_auditevent_append_only()
""",
]

DROP = [
    f"DROP TRIGGER IF EXISTS auditevent_append_only ON {TABLE}",
    "DROP FUNCTION IF EXISTS surveillance_auditevent_append_only()",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("surveillance", "0002_audit_event")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
