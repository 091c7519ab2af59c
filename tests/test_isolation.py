"""Test runs own their names: two `make test` runs side by side (and this one around them) all pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT

INNER_TESTS = [
    # a real worker process, and a test that flushes the whole Redis database the run uses
    "tests/queue_app/test_worker_execution.py::test_a_task_runs_to_completed_with_result_duration_and_worker",
    "tests/queue_app/test_faults.py::test_flushing_redis_loses_nothing_reconcile_delivers_every_task",
]


def test_two_make_test_runs_started_together_both_pass(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in {"TEST_RUN_ID", "TEST_REDIS_URL"}}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    runs = []
    for name in ("first", "second"):
        log = open(tmp_path / f"{name}.log", "w+")  # noqa: SIM115 - read back below
        command = [
            sys.executable,
            str(ROOT / "scripts" / "devservices.py"),
            "test",
            *INNER_TESTS,
            "-p",
            "no:cacheprovider",
            "-v",
        ]
        runs.append((subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log))

    outputs = []
    for proc, log in runs:
        proc.wait(timeout=600)
        log.seek(0)
        outputs.append(log.read())
        assert proc.returncode == 0, outputs[-1][-3000:]
        assert "2 passed" in outputs[-1]

    databases = [set(re.findall(r"test_\w+_\d+_[0-9a-f]{6}", output)) for output in outputs]
    redis_ports = [set(re.findall(r"redis://127\.0\.0\.1:(\d+)", output)) for output in outputs]
    assert not databases[0] & databases[1] and not redis_ports[0] & redis_ports[1]
