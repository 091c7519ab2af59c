"""The audit log refuses TRUNCATE too (a statement trigger; the row trigger of 0007 cannot see a TRUNCATE).

The one way past it is the session setting upwork.allow_audit_truncate = 'on', for the test suite's flush
between transactional tests (settings/test.py sets it per connection) and the bench's reset of its own database.
Anyone who can set it can also drop the trigger as the table's owner: the real control is that the application's
database role neither owns the table nor has TRUNCATE on it (README, Security).
"""

from django.db import migrations

NO_TRUNCATE = """
CREATE OR REPLACE FUNCTION queue_app_auditentry_no_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('upwork.allow_audit_truncate', true), '') <> 'on' THEN
        RAISE EXCEPTION 'queue_app_auditentry is append-only: the audit log cannot be truncated'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER queue_app_auditentry_no_truncate
    BEFORE TRUNCATE ON queue_app_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION queue_app_auditentry_no_truncate();
"""

DROP = """
DROP TRIGGER IF EXISTS queue_app_auditentry_no_truncate ON queue_app_auditentry;
DROP FUNCTION IF EXISTS queue_app_auditentry_no_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [("queue_app", "0009_api_token_move_plaintext_keys")]

    operations = [migrations.RunSQL(NO_TRUNCATE, reverse_sql=DROP)]
