#!/usr/bin/env bash
# `make run` (and `make demo`): create/refresh .venv with the runtime requirements, then find or start PostgreSQL
# and Redis and run the Procfile (scripts/devservices.py). `demo` also starts the sandbox marketplace and points
# everything at it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/venv.sh requirements.txt
exec .venv/bin/python scripts/devservices.py "${1:-run}"
