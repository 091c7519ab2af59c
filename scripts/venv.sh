#!/usr/bin/env bash
# Make sure .venv exists and has requirements.txt installed; pip runs only when requirements.txt changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || {
        echo "[venv] Python 3.11 or newer is needed; '$PYTHON' is $("$PYTHON" --version 2>/dev/null || echo "not found"). Set PYTHON=python3.11." >&2
        exit 1
    }
    echo "[venv] creating .venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv .venv || {
        echo "[venv] '$PYTHON -m venv .venv' failed: install Python 3.11+ with venv (Debian: apt-get install python3-venv)." >&2
        exit 1
    }
fi

hash="$(cat requirements.txt | sha256sum | cut -c1-16)"
stamp=".venv/.requirements-$hash"
if [ ! -f "$stamp" ]; then
    echo "[venv] installing requirements.txt into .venv"
    # (the grep drops pip's warnings about extra package folders that a machine's pip.conf names but lacks)
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; } || {
        echo "[venv] pip install -r requirements.txt failed (see above)." >&2
        exit 1
    }
    rm -f .venv/.requirements-*
    touch "$stamp"
fi
