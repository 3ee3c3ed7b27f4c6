"""Fewer indexes to write for each planned visit (enrolment writes twenty a patient).

The patient's foreign-key index repeats the leading column of `visit_patient_due`;
status_changed_by is empty until someone acts on a visit. The indexes are dropped by
name: altering the fields would drop and re-add each foreign key, checking every row.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cohorts", "0005_dashboard_patient_indexes"),
        ("scheduling", "0009_visit_owed_window_start"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "scheduling_visit" ("{column}")',
                )
                for column, name in (
                    ("patient_id", "scheduling_visit_patient_id_c9be8ae0"),
                    ("status_changed_by_id", "scheduling_visit_status_changed_by_id_5238fc3e"),
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="visit",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="visits",
                        to="cohorts.patient",
                    ),
                ),
                migrations.AlterField(
                    model_name="visit",
                    name="status_changed_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(
                condition=models.Q(("status_changed_by__isnull", False)),
                fields=["status_changed_by"],
                name="visit_status_changed_by",
            ),
        ),
    ]
