"""Finding Chromium processes this app started (by their marker switch) that outlived their task."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from jobs.sources.browser import browser_marker

logger = logging.getLogger(__name__)


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def marked_browser_pids(*, older_than_seconds: float) -> list[int]:
    """PIDs of our user's processes whose command line carries our browser_marker() and that are older than given."""
    found = []
    marker = browser_marker().encode()
    uid = os.getuid()
    now = time.time()
    boot = _boot_time()
    ticks = _clock_ticks()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            if marker not in arguments:
                continue
            # Field 22 of /proc/<pid>/stat is the start time in clock ticks after boot.
            stat = (entry / "stat").read_text()
            start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        except (OSError, ValueError, IndexError):
            continue
        if now - (boot + start_ticks / ticks) >= older_than_seconds:
            found.append(int(entry.name))
    return found


def kill_stray_browsers(*, older_than_seconds: float) -> int:
    """SIGTERM each marked browser process older than the limit; return how many were signalled."""
    killed = 0
    for pid in marked_browser_pids(older_than_seconds=older_than_seconds):
        try:
            os.kill(pid, signal.SIGTERM)
            killed += 1
            logger.info("Stopped stray browser process %s", pid)
        except ProcessLookupError:
            continue
    return killed
