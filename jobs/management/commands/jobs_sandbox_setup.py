"""manage.py jobs_sandbox_setup: the old name of `manage.py jobs sandbox-setup`, kept for one release."""

from core.cli import VerbAlias


class Command(VerbAlias):
    group = "jobs.cli.sandbox.SandboxVerbs"
    verb = "sandbox-setup"
    command = "jobs"
