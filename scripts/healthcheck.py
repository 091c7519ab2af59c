#!/usr/bin/env python
"""Container healthchecks (docker-compose.yml): `healthcheck.py web|worker|scheduler` exits 0 when healthy.

Kept free of Django so a check costs a few milliseconds:
  web        an HTTP request to the local gunicorn gets an answer below 500 (a redirect to HTTPS counts);
  worker     an RQ worker registered from this host (container) is alive in Redis;
  scheduler  some rq-scheduler instance has a live heartbeat key in Redis.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys


def check_web() -> str | None:
    port = int(os.environ.get("WEB_LISTEN_PORT", "8000"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/admin/login/", headers={"Host": "localhost"})
        status = connection.getresponse().status
    except OSError as error:
        return f"web: no answer on 127.0.0.1:{port} ({error})"
    finally:
        connection.close()
    return None if status < 500 else f"web: /admin/login/ answered {status}"


def redis_connection():
    import redis

    return redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=5)


def check_worker() -> str | None:
    from rq import Worker

    hostname = socket.gethostname()
    workers = Worker.all(connection=redis_connection())
    if any(worker.hostname == hostname for worker in workers):
        return None
    return f"worker: no RQ worker registered from host {hostname} ({len(workers)} from other hosts)"


def check_scheduler() -> str | None:
    connection = redis_connection()
    for key in connection.scan_iter("rq:scheduler_instance:*"):
        if not connection.hexists(key, "death"):  # the key expires when its heartbeat stops
            return None
    return "scheduler: no rq-scheduler instance has a live heartbeat"


CHECKS = {"web": check_web, "worker": check_worker, "scheduler": check_scheduler}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: healthcheck.py {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    try:
        problem = CHECKS[argv[0]]()
    except Exception as error:  # any failure to check is "unhealthy", with the reason
        problem = f"{argv[0]}: {type(error).__name__}: {error}"
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
