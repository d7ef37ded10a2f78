# Yaoshi: `make run` starts everything with embedded defaults; `make test` runs the whole suite from zero.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PO_FILES := $(wildcard locale/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run test test-unit test-e2e bench bench-import bench-care mutation lint format messages chromium clean

install: $(VENV)/.installed $(MO_FILES)

$(VENV)/.installed: pyproject.toml uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/uv sync --frozen --active --all-extras --inexact -q
	touch $@

# Catalogs are compiled by the build, never committed as binaries.
locale/%/LC_MESSAGES/messages.mo: locale/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile -d locale -D messages -l $* --use-fuzzy

run: install
	$(BIN)/yaoshi run

test: install chromium
	$(BIN)/pytest -q

test-unit: install
	$(BIN)/pytest -q tests

test-e2e: install chromium
	$(BIN)/pytest -q e2e

bench: install
	$(BIN)/python bench/run.py

# 100,000-row messy .xlsx and .csv imports through the SAQ worker: time and worker peak memory.
bench-import: install
	$(BIN)/python bench/import_bench.py

# Every built-in journey trigger over 1,000,000 members / 10,000,000 sale lines on PostgreSQL (100,000 members on
# SQLite) through the SAQ worker: seconds and worker peak memory (bench/care_bench.py).
bench-care: install
	$(BIN)/python bench/care_bench.py

# Mutation testing of allergies, scanning, loyalty and sale totals: kill rate per module, every surviving mutant
# (docs/testing.md). About 10 minutes on 2 cores; `--module NAME` and `--survivors` narrow it.
mutation: install
	$(BIN)/python tests/mutation/run.py $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-extract UI strings and merge them into each language's catalog.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -o locale/messages.pot --no-location --sort-output -w 120 --ignore-dirs='.* __pycache__ .venv var node_modules' .
	$(BIN)/pybabel update -i locale/messages.pot -d locale -D messages --no-fuzzy-matching --ignore-obsolete -w 120

chromium:
	@test -x /usr/bin/chromium || ( $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk >/dev/null )

clean:
	rm -rf $(VENV) var .pytest_cache $(MO_FILES)
