# Intygsportalen. The two commands:
#   make run    set everything up and serve the portal on http://127.0.0.1:5000 (embedded default)
#   make test   set up what the tests need and run the whole suite (SQLite, PostgreSQL, Chromium)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
APT_PACKAGES_TEST := chromium
APT_PACKAGES_RUN := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-dejavu-core

.PHONY: run test lint setup system-run system-test catalogues demo-data serve worker clean extract-messages run-production static-digest lighthouse

run: setup demo-data serve

# The suite in parallel (pytest-xdist): one worker per logical CPU, each with its own PostgreSQL cluster, SQLite
# files, live servers on free ports and Chromium. PYTEST_WORKERS=0 runs it in one process. Then the tests marked
# `alone` (Lighthouse's performance scores, which another busy process would lower) in a process of their own,
# with nothing else running; both parts run, and the target fails if either did (5: none of them was selected).
PYTEST_WORKERS ?= logical
test: setup system-test lighthouse lint
	@PORTAL_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not alone" $(PYTEST_ARGS); a=$$?; \
	$(BIN)/python -m pytest -p no:xdist -m alone $(PYTEST_ARGS); b=$$?; \
	if [ $$a -eq 5 ] && [ $$b -eq 5 ]; then exit 5; fi; \
	for s in $$a $$b; do if [ $$s -ne 0 ] && [ $$s -ne 5 ]; then exit $$s; fi; done

# Lint and types (configured in pyproject.toml): pyflakes, pycodestyle, bugbear, isort, complexity; mypy on portal/.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

setup: system-run $(STAMP) catalogues static-digest

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "Python 3.11 is needed (found $$($(PYTHON) --version)). Set PYTHON=/path/to/python3.11."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
	  { echo "Cannot make a virtual environment: install Debian's python3-venv first (sudo apt-get install python3-venv)."; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Babel catalogues: i18n/<lang>/LC_MESSAGES/messages.po -> .mo
catalogues: $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d i18n -D messages || $(BIN)/pybabel compile -d i18n -D messages

# Content-hashed copies of static/ with their .gz/.br and static/cache_manifest.json (gitignored; portal/static_assets.py).
# Quick when nothing changed; the app also rebuilds a stale one by itself outside production.
static-digest: $(STAMP)
	$(BIN)/python -m portal.static_assets

# Lighthouse (package.json, pinned by package-lock.json) for bench/lighthouse.py and accessibility/test_lighthouse.py.
lighthouse: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "Please install Node.js first: sudo apt-get install nodejs npm"; exit 1; fi; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The accessibility report (accessibility/report.py): every crawled page in sv and en at 390 and 1280 px with axe,
# a screenshot, the tab order, the accessibility tree, Lighthouse for the public pages and the WCAG 2.1 map.
# Offline: open build/a11y-report/index.html. `A11Y_REPORT_ARGS=--update-status` also writes accessibility/status.json.
.PHONY: a11y-report
a11y-report: setup system-test node_modules/.installed
	$(BIN)/python -m accessibility.report --out build/a11y-report $(A11Y_REPORT_ARGS)
	@echo "The report: file://$(CURDIR)/build/a11y-report/index.html (report.json beside it)"

# After changing texts: extract them and update both catalogues (then translate i18n/en).
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ -o i18n/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i i18n/messages.pot -d i18n -D messages --no-fuzzy-matching --ignore-obsolete

# System packages: installed as root (as on CI), or named for an ordinary user to install.
define need_apt
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing system packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Please install these Debian packages first: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
endef

system-run:
	$(call need_apt,$(APT_PACKAGES_RUN))

system-test:
	$(call need_apt,$(APT_PACKAGES_TEST))
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; \
	  else echo "Please install PostgreSQL first: sudo apt-get install postgresql"; exit 1; fi; }

demo-data: setup
	$(BIN)/portal demo-data --size small --if-empty

serve: setup
	@echo "Intygsportalen: http://$(HOST):$(PORT)/"
	$(BIN)/gunicorn --no-control-socket --workers 1 --threads 8 --bind $(HOST):$(PORT) \
	  --access-logfile - 'portal:create_app()'

# The production topology here: PostgreSQL (DATABASE_URL, or a throwaway cluster with the demo data), PROCESSES
# gunicorn processes, WORKERS delivery workers; Ctrl-C stops everything gracefully (portal/topology.py).
PROCESSES ?= 2
WORKERS ?= 1
run-production: setup
	@test -n "$$DATABASE_URL" || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; \
	  else echo "Please install PostgreSQL first (sudo apt-get install postgresql), or set DATABASE_URL"; exit 1; fi; }
	$(BIN)/portal serve-production --processes $(PROCESSES) --workers $(WORKERS) --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) instance/portal.sqlite* .pytest_cache node_modules
	git clean -qfX static/ 2>/dev/null || true  # the hashed copies, .gz/.br and manifest (all gitignored)
