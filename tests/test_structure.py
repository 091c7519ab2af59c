"""Structure: the layers (core ← queue_app ← domain apps) and the one way a service is told who acts.

- `core` imports Django, DRF and knox only: no project app, not even queue_app.
- The domain apps never import rq or django_rq (they go through queue_app's services and registry).
- Every service that writes takes the actor as one keyword-only `actor: Actor`, never `source` / `user` /
  `remote_addr` threaded by hand (a `source` that is the discovery channel, jobs' SourceKind, is not an actor).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from tests.conftest import ROOT

PROJECT_APPS = ("queue_app", "jobs", "proposals", "applications", "upwork_automation")
DOMAIN_APPS = ("jobs", "proposals", "applications", "notifications")
RQ_MODULES = ("rq", "django_rq", "rq_scheduler")
# The actor's parts, which a service must not take one by one.
ACTOR_PARTS = {"source", "user", "remote_addr"}
# Services whose `source` is not the actor: jobs' discovery channel (api / browser / auto).
NOT_AN_ACTOR = {"jobs.services.searches.search_run", "jobs.services.searches.job_search_run"}
# Reads about a user (its roles), where the user is the subject, not who acts.
USER_READS = {"core.permissions.user_roles", "core.permissions.can_read", "core.permissions.can_write"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports: top-level and lazy (in a function), `import_module("...")` included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.lineno, node.module or ""))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def _modules_of(folder: str, *, migrations: bool = False) -> list[Path]:
    return [path for path in sorted((ROOT / folder).rglob("*.py")) if migrations or "migrations" not in path.parts]


def imports_of(paths: list[Path], roots: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line} {module}"
        for path in paths
        for line, module in imported_modules(path)
        if module.split(".")[0] in roots
    ]


def test_core_imports_no_project_app():
    modules = _modules_of("core")
    assert len(modules) > 10
    assert imports_of(modules, PROJECT_APPS) == []


def test_no_domain_app_imports_rq():
    modules = [path for app in DOMAIN_APPS for path in _modules_of(app)]
    assert imports_of(modules, RQ_MODULES) == []


def test_the_import_checks_see_lazy_imports(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "from core import errors\n"
        "def f():\n    from queue_app.services import task_enqueue\n    import django_rq\n"
        "    importlib.import_module('jobs.tasks')\n"
    )
    found = sorted(line.split(" ", 1)[1] for line in imports_of([module], (*PROJECT_APPS, *RQ_MODULES)))
    assert found == ["django_rq", "jobs.tasks", "queue_app.services"]


# --- The actor -----------------------------------------------------------------------------------------


def service_modules() -> list[Path]:
    """The modules whose functions write: every app's services (module or package), core's, the switches."""
    paths = [ROOT / "queue_app" / "services.py", ROOT / "queue_app" / "switches.py"]
    paths += sorted((ROOT / "queue_app" / "scheduling").glob("*.py"))
    for app in DOMAIN_APPS:
        paths += sorted((ROOT / app / "services").glob("*.py"))
    paths += [ROOT / "core" / name for name in ("audit.py", "auditing.py", "permissions.py", "transitions.py")]
    return [path for path in paths if path.exists()]


def actor_parts_taken(path: Path, module: str | None = None) -> list[str]:
    """Functions in the file taking `source`, `user` or `remote_addr` (the actor's parts) as parameters."""
    module = module or ".".join(path.relative_to(ROOT).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.FunctionDef):
            continue
        if f"{module}.{node.name}" in NOT_AN_ACTOR:
            continue
        names = {arg.arg for arg in [*node.args.args, *node.args.kwonlyargs]}
        parts = names & ACTOR_PARTS
        if "actor" in names or node.name.startswith("_") or f"{module}.{node.name}" in USER_READS:
            # `user` beside an actor is the one acted on (role_grant, token_create); a private helper or a
            # read gets a user to look at, after the service took the actor
            parts -= {"user"}
        if parts:
            found.append(f"{module}:{node.lineno} {node.name}({', '.join(sorted(parts))})")
    return found


def test_services_take_one_actor_not_its_parts():
    paths = service_modules()
    assert len(paths) > 15
    assert [hit for path in paths for hit in actor_parts_taken(path)] == []


def test_the_actor_check_sees_a_source_parameter(tmp_path):
    module = tmp_path / "things.py"
    module.write_text(
        "def thing_do(*, thing_id: int, source: str = 'system', user=None):\n    pass\n"
        "def thing_undo(*, thing_id: int, actor):\n    pass\n"
        "def role_give(*, user, role: str, actor):\n    pass\n"
        "def role_take(*, user, role: str, actor, remote_addr=None):\n    pass\n"
    )
    found = actor_parts_taken(module, module="things")
    assert [hit.split(" ", 1)[1] for hit in found] == ["thing_do(source, user)", "role_take(remote_addr)"]


def test_the_actor_check_leaves_the_discovery_source_alone():
    from jobs.services import searches

    assert "source" in inspect.signature(searches.job_search_run).parameters  # the channel, not an actor
    assert actor_parts_taken(ROOT / "jobs" / "services" / "searches.py") == []


def test_only_the_actor_reads_the_client_address():
    """Views, admins and commands build the actor with Actor.from_request / .admin / .cli, not by hand."""
    readers = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in ("core", *PROJECT_APPS)
        for path in _modules_of(app)
        if path != ROOT / "core" / "actor.py" and "settings" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "REMOTE_ADDR" in line or "client_ip(" in line
    ]
    assert readers == []
