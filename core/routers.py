"""Database router: keeps django-rest-knox's own token table out of the database.

Our tokens are core.ApiToken (KNOX_TOKEN_MODEL). knox's migrations would still create its swapped-out
knox_authtoken table, which Django then does not know (a test flush cannot TRUNCATE auth_user past its
foreign key). Its migrations are recorded as applied and do nothing; settings.MIGRATION_MODULES now turns them off
altogether (their first one depends on the token model's app, which moved from queue_app to core), so this router is
a second guard.
"""

from __future__ import annotations


class SwappedKnoxRouter:
    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if app_label == "knox" else None
