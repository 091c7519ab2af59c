#!/usr/bin/env bash
# `make run`: create/refresh .venv, then find or start PostgreSQL and Redis and run the Procfile (scripts/devservices.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/venv.sh
exec .venv/bin/python scripts/devservices.py run
