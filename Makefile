# jiesu: two commands do everything on a fresh machine.
#   make run    set up, migrate (SQLite under ./data by default) and run the whole system
#   make test   set up, migrate the PostgreSQL test databases and run the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

export JIESU_TEST_DATABASE_URL ?= postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_test_{service}
export JIESU_RABBIT_API_URI ?= http://guest:guest@127.0.0.1:15672
export JIESU_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
export PYTHONWARNINGS ?= ignore::DeprecationWarning,ignore:pkg_resources is deprecated:UserWarning

.PHONY: run test venv fonts chromium migrate bench clean

# The rating service's charts draw Chinese: a CJK font from Debian (services/rating/charts.py).
CJK_FONT_PACKAGE := fonts-wqy-microhei
CJK_FONT_FILES := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc \
  /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

venv: $(STAMP) fonts

fonts:
	@{ fc-list :lang=zh family 2>/dev/null; ls $(CJK_FONT_FILES) 2>/dev/null; } | grep -q . || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(CJK_FONT_PACKAGE) (a CJK font for the charts)"; \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CJK_FONT_PACKAGE) >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CJK_FONT_PACKAGE) >/dev/null; }; } || \
	  { echo "error: could not install $(CJK_FONT_PACKAGE) with apt-get (see its message above)." >&2; exit 1; }; \
	else \
	  echo "warning: no CJK font, so the charts cannot draw Chinese; install one: sudo apt-get install $(CJK_FONT_PACKAGE) (or fonts-noto-cjk)." >&2; \
	fi

# The page tests drive Debian's Chromium through Playwright (tests/pages/browser.py), never a
# browser download; `make run` does not need it.
CHROMIUM_PACKAGE := chromium
CHROMIUM := /usr/bin/chromium

chromium:
	@test -x $(CHROMIUM) || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(CHROMIUM_PACKAGE) (the browser of the page tests)"; \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CHROMIUM_PACKAGE) >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CHROMIUM_PACKAGE) >/dev/null; }; } || \
	  { echo "error: could not install $(CHROMIUM_PACKAGE) with apt-get (see its message above)." >&2; exit 1; }; \
	else \
	  echo "error: the page tests need Chromium at $(CHROMIUM); install it: sudo apt-get install $(CHROMIUM_PACKAGE)" >&2; exit 1; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "error: jiesu needs Python 3.11 (found $$($(PYTHON) --version 2>&1)); install python3.11 or run 'make PYTHON=/path/to/python3.11'." >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
	  { echo "error: could not create a virtualenv; install the venv module (apt-get install python3-venv)." >&2; exit 1; }
	@$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench]' || \
	  { echo "error: could not install the Python packages from the package index (see pip's message above)." >&2; exit 1; }
	@rm -f $(VENV)/.installed-* && touch $@

migrate: venv
	@$(BIN)/python scripts/ensure_infra.py run
	@$(BIN)/python -m services.common.migrate

run: migrate
	@$(BIN)/python -m services.common.system

test: venv chromium
	@$(BIN)/python scripts/ensure_infra.py test
	@JIESU_DATABASE_URL="$(JIESU_TEST_DATABASE_URL)" $(BIN)/python -m services.common.migrate
	@$(BIN)/ruff check services gateway tests bench scripts
	@$(BIN)/lint-imports --no-cache --no-logo
	@$(BIN)/nameko test --rabbit-ctl-uri "$(JIESU_RABBIT_API_URI)" $(PYTEST_ARGS)

bench: venv
	@$(BIN)/python bench/intake.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
