"""No module-level mutable state in the worker path: what a worker process carries between tasks is owned by the
worker object (its HorseChannel, its writer), not by module globals that a fork, a thread or a test would share."""

from __future__ import annotations

import ast
import dataclasses
import datetime
import functools
import importlib
import inspect
import logging
import pkgutil
import re
import types
import typing
from pathlib import Path

import pytest

import queue_app.rq_adapter

ROOT = Path(__file__).resolve().parents[2]
WORKER_PATH = [
    "queue_app.worker",
    "queue_app.execution",
    "queue_app.lifecycle",
    "queue_app.transport",
    "queue_app.limits",
    "queue_app.rq_adapter",
    *(f"queue_app.rq_adapter.{module.name}" for module in pkgutil.iter_modules(queue_app.rq_adapter.__path__)),
]
# Module-level objects that hold state, each with why it may: "<module>.<name>": reason.
ALLOWED = {
    "queue_app.rq_adapter.jobs.CONNECTIONS": (
        "a cache of one Redis client and Queue per (pid, URL, name): keyed by pid, so a forked work horse builds "
        "its own; losing it costs only a reconnect"
    ),
    "queue_app.rq_adapter.serializers._resolve_hashable": (
        "functools.cache of a pure function (serializer name -> serializer class), the point of patch 1"
    ),
    "queue_app.rq_adapter.bulk._templates": (
        "a cache of pure data (RQ job hash templates, each checked against RQ's own hash) keyed by everything a "
        "job's hash holds besides its id: a fork or a thread may share it; losing it costs one rebuild per key"
    ),
    "queue_app.lifecycle.INLINE": (
        "a LifecycleWriter never turned on: it writes in the calling thread and keeps no queue, thread or result"
    ),
}
IMMUTABLE = (
    str,
    bytes,
    int,
    float,
    complex,
    bool,
    type(None),
    tuple,
    frozenset,
    datetime.timedelta,
    re.Pattern,
    types.MappingProxyType,
    logging.Logger,
    typing.TypeVar,
)


def _stateful(value) -> bool:
    """Whether a module global can hold state that changes: containers, caches, instances of mutable classes."""
    if isinstance(value, IMMUTABLE):
        return isinstance(value, tuple | frozenset) and any(_stateful(item) for item in value)
    if isinstance(value, functools._lru_cache_wrapper):
        return True
    if inspect.ismodule(value) or inspect.isclass(value) or inspect.isroutine(value):
        return False
    return not (dataclasses.is_dataclass(value) and value.__dataclass_params__.frozen)


def _assigned(module) -> list[str]:
    """The names the module's own top level assigns (imports are the imported module's business)."""
    tree = ast.parse(Path(module.__file__).read_text())
    names = []
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        names += [target.id for target in targets if isinstance(target, ast.Name)]
        if isinstance(node, ast.FunctionDef):  # a decorated one may be a cache
            names.append(node.name)
    return names


@pytest.mark.parametrize("name", WORKER_PATH)
def test_worker_path_modules_hold_no_mutable_globals(name):
    module = importlib.import_module(name)
    offenders = sorted(
        f"{name}.{attribute}"
        for attribute in _assigned(module)
        if attribute != "__all__" and _stateful(getattr(module, attribute)) and f"{name}.{attribute}" not in ALLOWED
    )
    assert offenders == [], "module-level state in the worker path: move it onto the worker, or allow it with a reason"


@pytest.mark.parametrize("name", WORKER_PATH)
def test_worker_path_classes_share_no_mutable_class_attributes(name):
    module = importlib.import_module(name)
    offenders = [
        f"{name}.{cls.__name__}.{attribute}"
        for cls in vars(module).values()
        if inspect.isclass(cls) and cls.__module__ == name
        for attribute, value in vars(cls).items()
        if not attribute.startswith("__") and isinstance(value, dict | list | set | bytearray)
    ]
    assert offenders == []


@pytest.mark.parametrize("name", WORKER_PATH)
def test_worker_path_modules_use_no_global_statement(name):
    path = Path(importlib.import_module(name).__file__)
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree) if isinstance(node, ast.Global)]
    assert found == []


def test_every_allowed_global_exists():
    for dotted in ALLOWED:
        module, attribute = dotted.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), attribute), f"{dotted} is gone: drop it from ALLOWED"


def test_the_check_finds_a_mutable_global():
    module = types.ModuleType("probe")
    module.cache = {}
    module.seen = set()
    module.LIMITS = (1, 2)
    module.frozen = frozenset({"a"})
    assert [name for name, value in vars(module).items() if not name.startswith("__") and _stateful(value)] == [
        "cache",
        "seen",
    ]
