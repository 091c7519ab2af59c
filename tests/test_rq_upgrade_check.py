"""`make rq-next` (scripts/rq_upgrade_check.sh) reports a break under a new RQ and never fails the build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import rq

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rq_upgrade_check.sh"


def test_the_upgrade_check_exits_0_with_a_report_when_the_new_rq_breaks_tests():
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "TEST_RUN_ID"))}
    env.update(
        PYTHON=sys.executable,
        RQ_NEXT_INSTALL="0",  # the installed RQ stands for the new one: no download here
        RQ_NEXT_VERSION=rq.__version__,
        RQ_NEXT_TESTS="tests/rq_next_probe.py",  # one passing test and one that breaks
    )
    run = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"RQ {rq.__version__}: 1 passed, 1 failed, 0 skipped (known cost of upgrading" in run.stdout, run.stdout
    assert "tests/rq_next_probe.py::test_breaks_under_the_new_rq" in run.stdout


def test_make_test_reports_against_a_newer_rq_and_ci_only_calls_make_test():
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "RQ_NEXT_IF_NEWER=1" in test_recipe and "rq_upgrade_check.sh" in test_recipe
    assert "exit $$rc" in test_recipe.rsplit("rq_upgrade_check.sh", 1)[1]  # the suite's code, not the report's
    assert "rq_upgrade_check" not in (ROOT / ".ci" / "run").read_text()
    assert "rq-next:" in makefile


def test_the_upgrade_check_says_one_line_when_the_pinned_rq_is_the_newest():
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "TEST_RUN_ID"))}
    env.update(PYTHON=sys.executable, RQ_NEXT_VERSION=rq.__version__, RQ_NEXT_IF_NEWER="1")
    run = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"RQ {rq.__version__}, the newest release, is the pinned one: nothing to check" in run.stdout
    assert "running" not in run.stdout
