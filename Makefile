# upwork_automation — `make run` brings the system up, `make test` runs the test suite. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
# Extra arguments, e.g. `make test ARGS="-k priority -x"`.
ARGS ?=
# Parallel test workers (pytest-xdist); most tests wait on real processes, so more workers than cores pay.
# `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 3

.PHONY: help venv run demo test rq-next lint format lock bench schemathesis migrate admin check-deploy compose-config clean-data

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

venv: ## Create .venv with the runtime and development requirements (only when they changed)
	@bash scripts/venv.sh requirements-dev.txt

run: ## Start web, workers and scheduler (finds or starts PostgreSQL and Redis); Ctrl-C stops
	@bash scripts/run.sh

demo: ## Like `make run`, against the local sandbox marketplace (own database, template drafter, first discovery queued)
	@bash scripts/run.sh demo

test: venv ## Run the test suite (finds or installs Chromium; its own test database and Redis; embedded PostgreSQL if none answers)
	@rc=0; $(PY) scripts/devservices.py test -n $(TEST_WORKERS) $(ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5) — that is a failure here." >&2; fi; \
	if [ $$rc -eq 0 ] && [ -z "$(ARGS)" ]; then RQ_NEXT_IF_NEWER=1 TEST_WORKERS=$(TEST_WORKERS) PYTHON=$(PY) bash scripts/rq_upgrade_check.sh; fi; \
	exit $$rc

rq-next: venv ## Report-only: the queue tests against the newest RQ on PyPI (never fails; `make test` runs it when RQ is newer than the pin)
	@PYTHON=$(PY) bash scripts/rq_upgrade_check.sh

lock: venv ## Regenerate requirements.txt and requirements-dev.txt from pyproject.toml (uv pip compile)
	$(VENV)/bin/uv pip compile pyproject.toml -o requirements.txt --python-version 3.11 --no-emit-index-url $(ARGS)
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev -c requirements.txt -o requirements-dev.txt --python-version 3.11 --no-emit-index-url $(ARGS)

lint: venv ## ruff check + ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: venv ## Throughput benchmark (bench/throughput.py)
	@if [ -f bench/throughput.py ]; then $(PY) bench/throughput.py $(ARGS); \
	else echo "bench/throughput.py does not exist yet." >&2; exit 1; fi

schemathesis: venv ## Long API fuzzing: schemathesis coverage+fuzzing phases, 10 examples/operation (~11 min)
	SCHEMATHESIS_PHASES=coverage,fuzzing SCHEMATHESIS_EXAMPLES=10 SCHEMATHESIS_TIMEOUT=1800 \
	$(VENV)/bin/pytest tests/api/test_schemathesis.py -s --timeout 1900 $(ARGS)

migrate: venv ## Apply migrations to DATABASE_URL (default: local upwork_automation)
	$(PY) manage.py migrate

admin: venv ## Create the admin user if missing and print its login
	$(PY) manage.py create_admin

check-deploy: venv ## Django's deployment checks against the production settings (needs SECRET_KEY and FIELD_ENCRYPTION_KEY)
	DJANGO_SETTINGS_MODULE=upwork_automation.settings.production $(PY) manage.py check --deploy

compose-config: ## Validate docker-compose.yml (docker compose, else docker-compose)
	@if docker compose version >/dev/null 2>&1; then docker compose config --quiet; \
	elif command -v docker-compose >/dev/null; then docker-compose config --quiet; \
	else echo "Neither 'docker compose' nor 'docker-compose' is installed." >&2; exit 1; fi
	@echo "docker-compose.yml is valid."

clean-data: ## Delete .data/ (embedded PostgreSQL/Redis data and the generated admin password)
	rm -rf .data
