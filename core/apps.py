"""What every app shares: errors, the audit log, the actor, status transitions, API glue, roles and tokens.

core imports Django, DRF and knox only, never a project app; every app may import it.
"""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core: audit log, roles and tokens"
    default_auto_field = "django.db.models.BigAutoField"
