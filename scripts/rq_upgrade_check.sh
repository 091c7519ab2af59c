#!/usr/bin/env bash
# `make rq-next`: run the queue tests against the newest RQ release on PyPI and report what breaks.
#
# Report-only: it always exits 0, whatever the tests say (an upgrade's known cost, not a failure of this
# build). `make test` calls it last with RQ_NEXT_IF_NEWER=1, so CI reports a break as soon as a newer RQ is
# released, and costs one PyPI lookup until then. The new RQ goes into a throw-away directory
# (pip install --target, put first on PYTHONPATH for pytest and every worker it starts); the virtualenv is
# not touched. RQ's own dependencies are the virtualenv's (--no-deps): the report says so when the new RQ
# asks for more than they give.
#
# Environment:
#   PYTHON            the interpreter (default .venv/bin/python)
#   RQ_NEXT_VERSION   the RQ release to try (default: the newest on PyPI, from `pip index versions rq`)
#   RQ_NEXT_TESTS     what to run (default tests/queue_app)
#   RQ_NEXT_INSTALL   0: use the RQ already installed (for this script's own test)
#   TEST_WORKERS      pytest-xdist workers (default 0)
#   RQ_NEXT_IF_NEWER  1: only when PyPI's newest RQ is not the pinned one (one line otherwise)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${PYTHON:-.venv/bin/python}
TESTS=${RQ_NEXT_TESTS:-tests/queue_app}
PINNED=$("$PY" -c 'import rq; print(rq.__version__)' 2>/dev/null || echo "?")
report() { printf '\n== rq-next == %s\n' "$*"; }

VERSION=${RQ_NEXT_VERSION:-}
if [ -z "$VERSION" ]; then
    VERSION=$(timeout 30 "$PY" -m pip index versions rq 2>/dev/null | sed -n 's/^rq (\(.*\))$/\1/p' | head -n 1)
fi
if [ -z "$VERSION" ]; then
    report "RQ ?: not checked: PyPI did not answer \`pip index versions rq\` (pinned: $PINNED)"
    exit 0
fi

if [ "${RQ_NEXT_IF_NEWER:-0}" = "1" ] && [ "$VERSION" = "$PINNED" ]; then
    report "RQ $VERSION, the newest release, is the pinned one: nothing to check"
    exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rq-next.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SITE="$WORK/site"
mkdir -p "$SITE"

if [ "${RQ_NEXT_INSTALL:-1}" != "0" ]; then
    echo "installing rq==$VERSION into $SITE (pinned: $PINNED)"
    if ! PIP_CONSTRAINT="" "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --target "$SITE" \
        "rq==$VERSION" >"$WORK/pip.log" 2>&1; then
        tail -n 20 "$WORK/pip.log"
        report "RQ $VERSION: not checked: pip could not install it (pinned: $PINNED)"
        exit 0
    fi
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
FOUND=$("$PY" -c 'import rq; print(rq.__version__)' 2>&1 | tail -n 1)
FROM=$("$PY" -c 'import os, rq; print(os.path.dirname(rq.__file__))' 2>&1 | tail -n 1)
DEPS=$("$PY" - <<'EOF' 2>/dev/null
from importlib.metadata import PackageNotFoundError, distribution, version

from packaging.requirements import Requirement

unmet = []
for line in distribution("rq").requires or []:
    requirement = Requirement(line)
    if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
        continue
    try:
        installed = version(requirement.name)
    except PackageNotFoundError:
        unmet.append(f"{requirement} (missing)")
        continue
    if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
        unmet.append(f"{requirement} (have {installed})")
print("; ".join(unmet))
EOF
)

echo "running $TESTS against RQ $FOUND ($FROM)"
"$PY" scripts/devservices.py test -n "${TEST_WORKERS:-0}" $TESTS -q -p no:cacheprovider \
    --junitxml="$WORK/report.xml" >"$WORK/pytest.log" 2>&1
RC=$?
tail -n 15 "$WORK/pytest.log"

SUMMARY=$("$PY" - "$WORK/report.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("0 0 0")
    sys.exit()
passed = failed = skipped = 0
broken = []
for case in root.iter("testcase"):
    outcome = {child.tag for child in case}
    name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
    if outcome & {"failure", "error"}:
        failed += 1
        broken.append(name)
    elif "skipped" in outcome:
        skipped += 1
    else:
        passed += 1
print(passed, failed, skipped)
for name in broken:
    print(name)
EOF
)
read -r PASSED FAILED SKIPPED <<<"$(head -n 1 <<<"$SUMMARY")"
if [ "$FAILED" != "0" ]; then
    echo "failing under RQ $FOUND:"
    tail -n +2 <<<"$SUMMARY" | head -n 40 | sed 's/^/  /'
fi
[ -n "$DEPS" ] && echo "RQ $FOUND asks for more than this virtualenv has: $DEPS"
if [ "$PASSED$FAILED" = "00" ]; then
    report "RQ $FOUND: no test result (pytest exited $RC; see the log above) (pinned: $PINNED)"
elif [ "$FAILED" = "0" ]; then
    report "RQ $FOUND: $PASSED passed, 0 failed, $SKIPPED skipped (pinned: $PINNED; upgrading costs nothing the queue tests see)"
else
    report "RQ $FOUND: $PASSED passed, $FAILED failed, $SKIPPED skipped (known cost of upgrading from $PINNED)"
fi
exit 0
