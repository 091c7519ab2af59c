"""Which Chromium the app, the tests and the commands drive — the one place that decides.

Looked for in the order a user expects:
  1. `JOBS_BROWSER_EXECUTABLE` when set (a missing file there is an error, never silently replaced);
  2. a system Chromium or Chrome on PATH (`chromium`, `chromium-browser`, `google-chrome`, ...);
  3. Playwright's own managed browser (`python -m playwright install chromium`, the usual way on a laptop).
`provision()` (for `make test` and `make run`) goes further when none is found: it runs Playwright's installer,
then, as root on a machine with apt, `apt-get install chromium`. When nothing works it raises `ChromiumNotFound`
whose message is one sentence saying what to install; the app reports the same sentence as a task error, and the
health check shows it.

No Django here: `scripts/devservices.py` uses it before Django is set up. Run `python -m upwork_automation.chromium`
to print the executable (provisioning it if needed), or `... --find` to only look.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ENV_VAR = "JOBS_BROWSER_EXECUTABLE"
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
MACOS_APPS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
APT_PACKAGES = ("chromium", "fonts-dejavu-core")  # fonts: text in screenshots
INSTALL_HINT = (
    "No Chromium found: run `.venv/bin/python -m playwright install chromium` "
    "(or `apt-get install chromium` on Debian/Ubuntu), or set JOBS_BROWSER_EXECUTABLE to a Chromium or Chrome binary."
)


class ChromiumNotFound(RuntimeError):
    """No Chromium can be had; str() is the sentence to show a person."""


def _executable(path: str | os.PathLike) -> str | None:
    candidate = Path(path)
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def system_chromium() -> str | None:
    for name in SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return next((app for app in MACOS_APPS if _executable(app)), None)


def managed_chromium() -> str | None:
    """Playwright's own Chromium (under PLAYWRIGHT_BROWSERS_PATH or its cache) when it is installed."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as playwright:
            return _executable(playwright.chromium.executable_path)
    except Error:
        return None


def configured() -> str:
    return os.environ.get(ENV_VAR, "").strip()


def find(setting: str | None = None) -> str | None:
    """The Chromium to use, or None. `setting` (JOBS_BROWSER_EXECUTABLE) wins and must exist when given."""
    setting = configured() if setting is None else setting.strip()
    if setting:
        found = _executable(setting) or shutil.which(setting)
        if not found:
            raise ChromiumNotFound(
                f"JOBS_BROWSER_EXECUTABLE={setting} is not an executable file: point it at a Chromium or Chrome "
                "binary, or unset it to let the app find one."
            )
        return found
    return system_chromium() or managed_chromium()


@functools.lru_cache(maxsize=8)
def _cached_executable(setting: str) -> str:
    found = find(setting)
    if not found:
        raise ChromiumNotFound(INSTALL_HINT)
    return found


def executable(setting: str | None = None) -> str:
    """The Chromium path for a launch; raises ChromiumNotFound with the sentence to show. Found paths are cached."""
    setting = (configured() if setting is None else setting).strip()
    path = _cached_executable(setting)
    if not _executable(path):  # removed since it was found
        _cached_executable.cache_clear()
        path = _cached_executable(setting)
    return path


_last_miss: tuple[float, str, str] | None = None  # (when, setting, sentence): health asks often; looking costs


def status(setting: str | None = None, *, recheck_after: float = 60.0) -> dict:
    """For the health check: {"available": True, "executable": path} or {"available": False, "error": sentence}."""
    global _last_miss
    setting = (configured() if setting is None else setting).strip()
    if _last_miss and _last_miss[1] == setting and time.monotonic() - _last_miss[0] < recheck_after:
        return {"available": False, "error": _last_miss[2]}
    try:
        return {"available": True, "executable": executable(setting)}
    except ChromiumNotFound as error:
        _last_miss = (time.monotonic(), setting, str(error))
        return {"available": False, "error": str(error)}


def forget() -> None:
    """Drop what was found or missed, so the next call looks again (after an install, and in tests)."""
    global _last_miss
    _cached_executable.cache_clear()
    _last_miss = None


def _can_apt() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def _run(command: list[str], timeout: float, say: Callable[[str], None]) -> bool:
    say(f"running: {' '.join(command)}")
    try:
        result = subprocess.run(
            command,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        say(f"  failed: {error}")
        return False
    if result.returncode != 0:
        tail = [line for line in result.stdout.strip().splitlines() if line.strip()][-2:]
        say(f"  failed (exit {result.returncode}): {' / '.join(tail)}")
    return result.returncode == 0


def provision(*, say: Callable[[str], None] = print, install: bool = True) -> str:
    """Find a Chromium, installing one the usual ways when none is found; returns its path or raises."""
    found = find()
    if found or not install:
        if found:
            return found
        raise ChromiumNotFound(INSTALL_HINT)
    say("no Chromium found: trying Playwright's installer (python -m playwright install chromium)")
    forget()
    if _run([sys.executable, "-m", "playwright", "install", "chromium"], 600, say) and (found := find()):
        return found
    if _can_apt():
        say(f"running as root with apt: installing {' '.join(APT_PACKAGES)}")
        apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *APT_PACKAGES]
        if not _run(apt, 900, say):  # a fresh machine may have no package lists yet
            _run(["apt-get", "update", "-q", "-o", "Acquire::Retries=3"], 300, say)
            _run(apt, 900, say)
        if found := find():
            return found
    raise ChromiumNotFound(INSTALL_HINT)


def main(argv: list[str]) -> int:
    only_find = "--find" in argv
    try:
        path = provision(say=lambda line: print(f"[chromium] {line}", file=sys.stderr), install=not only_find)
    except ChromiumNotFound as error:
        print(error, file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
