#!/usr/bin/env bash
# Make sure .venv exists and has a requirements file installed (default requirements.txt, the runtime set;
# `make test` passes requirements-dev.txt, runtime + test tools); pip runs only when that file changed.
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

requirements="${1:-requirements.txt}"
name="$(basename "$requirements" .txt)"
hash="$(sha256sum < "$requirements" | cut -c1-16)"
stamp=".venv/.$name-$hash"
if [ ! -f "$stamp" ]; then
    echo "[venv] installing $requirements into .venv"
    # (the grep drops pip's warnings about extra package folders that a machine's pip.conf names but lacks)
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; } || {
        echo "[venv] pip install -r $requirements failed (see above)." >&2
        exit 1
    }
    rm -f ".venv/.$name"-*
    touch "$stamp"
fi
