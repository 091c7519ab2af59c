"""Nothing left behind: no process a worker, run_workers or a test run starts outlives what started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT, descendants, still_running, subprocess_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_scheduler_child_of_a_worker_killed_with_kill_9_exits_within_10_seconds(processes):
    worker = processes.worker()  # rqworker ... --with-scheduler
    scheduler = wait_for(lambda: descendants(worker.pid), timeout=30, message="the worker's scheduler process")

    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)

    wait_for(lambda: not still_running(scheduler), timeout=10, message="the orphaned scheduler process to exit")


def test_sigterm_to_run_workers_and_its_process_group_leaves_no_process(processes):
    supervisor = processes.start("run_workers", "--count", "2", "--grace", "2", name="run_workers")
    everything = wait_for(
        lambda: (found := descendants(supervisor.pid)) and len(found) >= 3 and found,  # 2 workers, >= 1 scheduler
        timeout=60,
        message="run_workers to start two workers and a scheduler",
    )

    os.killpg(supervisor.pid, signal.SIGTERM)  # what a script or a container runtime sends
    supervisor.wait(timeout=60)

    assert supervisor.returncode == 0, processes.output(supervisor)[-2000:]
    wait_for(lambda: not still_running(everything), timeout=10, message="every worker and scheduler process gone")


def test_a_test_run_that_leaves_a_process_behind_fails_and_names_it(tmp_path):
    """The session's own check, run on an inner pytest session whose test starts `sleep` and walks away."""
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_sessionfinish, pytest_terminal_summary\n")
    (tmp_path / "test_leak.py").write_text(
        textwrap.dedent(
            """
            import subprocess

            def test_walks_away():
                subprocess.Popen(["sleep", "517"], start_new_session=True)
            """
        )
    )
    env = {key: value for key, value in subprocess_env().items() if key != "TEST_RUN_ID"}  # a run of its own
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
         "-c", str(ROOT / "pyproject.toml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr

    assert result.returncode == 1, output[-3000:]
    assert "1 passed" in output
    assert "process(es) started by this run outlived it" in output and "sleep 517" in output
    ps = subprocess.run(["pgrep", "-f", "sleep 517"], capture_output=True, text=True, check=False)
    assert ps.stdout.strip() == "", "the check kills what it names"
