"""AuditEntry and ApiToken moved to the core app: removed from queue_app's model state only.

Their tables (queue_app_auditentry with its append-only and no-TRUNCATE triggers, queue_app_apitoken) stay as they
are; core's 0001 takes them over under the same names (db_table) and moves their content types.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("queue_app", "0012_plural_names_for_admin"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="auditentry",
                    name="actor",
                ),
                migrations.DeleteModel(
                    name="ApiToken",
                ),
                migrations.DeleteModel(
                    name="AuditEntry",
                ),
            ]
        ),
    ]
