"""Dependencies split the way Python projects do: runtime declared once, pinned apart from the development tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DEV_TOOLS = {"pytest", "pytest-django", "pytest-timeout", "model-bakery", "schemathesis", "hypothesis", "ruff", "uv"}


def pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    return {m[1].lower().replace("_", "-"): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.M)}


def test_the_runtime_pins_hold_no_test_or_lint_tool_and_the_dev_pins_add_them_at_the_same_versions():
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert not DEV_TOOLS & set(runtime)
    assert set(dev) >= DEV_TOOLS
    assert {name: dev.get(name) for name in runtime} == runtime


def test_the_docker_image_installs_the_runtime_pins_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.txt" in dockerfile
    assert "requirements-dev" not in dockerfile and "pytest" not in dockerfile


def test_both_pin_files_are_what_uv_compiles_from_pyproject(tmp_path):
    """`make lock` output is committed as is: compiling again (keeping the pins) changes nothing."""
    uv = shutil.which("uv", path=str(ROOT / ".venv" / "bin")) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is missing: `make venv` installs requirements-dev.txt, which has it")
    for name, extra in (
        ("requirements.txt", []),
        ("requirements-dev.txt", ["--extra", "dev", "-c", "requirements.txt"]),
    ):
        copy = tmp_path / name
        shutil.copy(ROOT / name, copy)
        subprocess.run(
            [uv, "pip", "compile", "pyproject.toml", *extra, "-o", str(copy), "--python-version", "3.11",
             "--no-emit-index-url", "--no-header", "-q"],
            cwd=ROOT, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        compiled = {m[1].lower(): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", copy.read_text(), re.M)}
        assert compiled == pins(name), f"{name} is not what `make lock` makes from pyproject.toml"


def test_pip_install_of_requirements_txt_alone_runs_the_app(tmp_path):
    """A fresh virtualenv with the runtime pins only: Django's checks pass and every app module imports."""
    uv = shutil.which("uv", path=str(ROOT / ".venv" / "bin")) or shutil.which("uv")
    venv = tmp_path / "runtime-venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "-r", "requirements.txt"],
        cwd=ROOT, check=True, timeout=900,
    )  # fmt: skip
    python = str(venv / "bin" / "python")
    probe = "import importlib, pytest"
    assert subprocess.run([python, "-c", probe], capture_output=True, check=False).returncode != 0  # no pytest there
    env = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "x" * 50, "DJANGO_SETTINGS_MODULE": "upwork_automation.settings.base"}
    result = subprocess.run(
        [python, "manage.py", "check", "--fail-level", "ERROR"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    imports = (
        "import django; django.setup(); import importlib, pkgutil\n"
        "for app in ('queue_app', 'jobs', 'proposals', 'applications', 'upwork_automation'):\n"
        "    module = importlib.import_module(app)\n"
        "    for info in pkgutil.walk_packages(module.__path__, app + '.'):\n"
        "        if '.settings.' not in info.name and '.migrations' not in info.name:\n"
        "            importlib.import_module(info.name)\n"
    )
    result = subprocess.run([python, "-c", imports], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
