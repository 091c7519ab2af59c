"""The audit log is append-only in PostgreSQL itself: no UPDATE of its content and no DELETE, by anyone.

Only actor_id may change (ON DELETE SET NULL when a user is deleted; actor_name keeps who it was).
"""

from django.db import migrations

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION queue_app_auditentry_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'queue_app_auditentry is append-only: audit entries cannot be deleted'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.created_at, NEW.actor_name, NEW.source, NEW.action, NEW.object_type, NEW.object_id,
        NEW.before, NEW.after, NEW.remote_addr)
       IS DISTINCT FROM
       (OLD.id, OLD.created_at, OLD.actor_name, OLD.source, OLD.action, OLD.object_type, OLD.object_id,
        OLD.before, OLD.after, OLD.remote_addr) THEN
        RAISE EXCEPTION 'queue_app_auditentry is append-only: audit entries cannot be edited'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER queue_app_auditentry_append_only
    BEFORE UPDATE OR DELETE ON queue_app_auditentry
    FOR EACH ROW EXECUTE FUNCTION queue_app_auditentry_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS queue_app_auditentry_append_only ON queue_app_auditentry;
DROP FUNCTION IF EXISTS queue_app_auditentry_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("queue_app", "0006_task_wait_reason")]

    operations = [migrations.RunSQL(APPEND_ONLY, reverse_sql=DROP)]
