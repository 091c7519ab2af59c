"""Structure: queue_app.lifecycle is the only writer of Task.status; the worker path keeps no module state."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROJECT_DIRS = ["core", "queue_app", "jobs", "proposals", "applications", "upwork_automation", "bench", "scripts"]
LIFECYCLE = ROOT / "queue_app" / "lifecycle.py"
SQL_STATUS_WRITE = re.compile(r"\b(UPDATE|SET)\b[^;]*\bstatus\s*=", re.IGNORECASE | re.DOTALL)


def _project_files() -> list[Path]:
    files = []
    for folder in PROJECT_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" not in path.parts and path != LIFECYCLE:
                files.append(path)
    return files


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _string_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
    return None


def status_writes(source: str) -> list[str]:
    """The places in this source that write a task's status (outside queue_app.lifecycle)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}"
        # task.status = ... (a name that says task, or a TaskStatus value)
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == "status"
                    and (_mentions(node.value, "TaskStatus") or "task" in ast.unparse(target.value).lower())
                ):
                    found.append(f"{where}: .status =")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, receiver = node.func.attr, node.func.value
            # Task.objects.filter(...).update(status=...)
            keywords = {k.arg for k in node.keywords}
            if (
                method in {"update", "update_or_create"}
                and "status" in keywords
                and (_mentions(receiver, "Task") or any(_mentions(k.value, "TaskStatus") for k in node.keywords))
            ):
                found.append(f"{where}: update(status=...)")
            # task.save(update_fields=["status"]), Task.objects.bulk_update(tasks, ["status"])
            fields = [k.value for k in node.keywords if k.arg in {"update_fields", "fields"}] + node.args[1:2]
            if method in {"save", "bulk_update"} and "task" in ast.unparse(receiver).lower():
                for value in fields:
                    if any(_string_text(n) == "status" for n in ast.walk(value)):
                        found.append(f"{where}: {method} of status")
        text = _string_text(node)
        if text and SQL_STATUS_WRITE.search(text) and ("queue_app_task" in text or "{}" in text):
            found.append(f"{where}: raw SQL writes status")
    return found


def test_only_the_lifecycle_module_writes_task_status():
    offenders = {
        str(path.relative_to(ROOT)): hits for path in _project_files() if (hits := status_writes(path.read_text()))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "source",
    [
        "task.status = TaskStatus.CANCELLED\n",
        "Task.objects.filter(id=1, status=TaskStatus.QUEUED).update(status=TaskStatus.PENDING)\n",
        "task.save(update_fields=['status', 'finished_at'])\n",
        "SQL = f\"UPDATE {TASK_TABLE} SET status = 'processing' WHERE id = %s\"\n",
    ],
    ids=["attribute", "queryset-update", "save-update-fields", "raw-sql"],
)
def test_the_structure_check_sees_each_kind_of_status_write(source):
    assert status_writes(source)


WORKER_PATH = ["queue_app.execution", "queue_app.worker", "queue_app.lifecycle", "queue_app.thread_worker"]


@pytest.mark.parametrize("module_name", WORKER_PATH)
def test_the_worker_path_keeps_no_mutable_module_state(module_name):
    module = importlib.import_module(module_name)
    mutable = {
        name: type(value).__name__
        for name, value in vars(module).items()
        if not name.startswith("__") and isinstance(value, dict | list | set | bytearray)
    }
    assert mutable == {}
    source = Path(module.__file__).read_text()
    rebound = [n.names for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Global)]
    assert rebound == []  # no function rebinds a module global (an fd, a counter)
    writers = [value for value in vars(module).values() if type(value).__name__ == "LifecycleWriter"]
    assert all(not writer.enabled for writer in writers)  # only the inline writer, which holds nothing
