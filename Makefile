# The two commands of the README (run, test), plus bench and lint.
# Each target creates .venv and installs what it needs, so a fresh clone needs nothing else.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Two stamps: `make run` installs only what the service and the emulator need; test, lint
# and bench add the test toolchain on top. Neither reinstalls what the other put there.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
APT_PACKAGES := redis-server chromium wrk nginx-light
# The example consumer of the browser client; its pinned TypeScript checks the declarations.
EXAMPLES := examples/graphql-token
NPM_STAMP := $(EXAMPLES)/node_modules/.installed
# WorkOS's React widgets against `make run`'s stack (docs/widgets.md).
WIDGETS := examples/widgets
WIDGETS_STAMP := $(WIDGETS)/node_modules/.installed
WIDGETS_PORT ?= 5173
WIDGETS_SERVICE_URL ?= http://127.0.0.1:$(or $(PORT),8000)
WIDGETS_EMULATOR_URL ?= http://127.0.0.1:$(or $(EMULATOR_PORT),4100)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run widgets test test-py test-js test-types bench lint typecheck system-packages clean

$(RUN_STAMP): requirements.txt requirements-emulator.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-emulator.txt
	@touch $(RUN_STAMP)

# requirements-dev.txt includes requirements-otel.txt: the tests and mypy cover tracing too.
$(STAMP): $(RUN_STAMP) requirements-dev.txt requirements-otel.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

# make runs the launcher as its direct child (no shell in between) and passes a SIGTERM on;
# a SIGINT sent to make alone is not passed on (make waits for its child), which the
# launcher notices by watching its parent (--stop-with-parent).
run: $(RUN_STAMP)
	$(PY) -m devstack.dev --stop-with-parent

# The widgets example, built from its lock file and served on 127.0.0.1:$(WIDGETS_PORT) (the
# origin `make run` allows), against `make run`'s service and emulator; run both at once.
$(WIDGETS_STAMP): $(WIDGETS)/package.json $(WIDGETS)/package-lock.json
	cd $(WIDGETS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(WIDGETS_STAMP)

widgets: $(WIDGETS_STAMP)
	cd $(WIDGETS) && VITE_SERVICE_URL=$(WIDGETS_SERVICE_URL) VITE_EMULATOR_URL=$(WIDGETS_EMULATOR_URL) \
	  node_modules/.bin/vite build --logLevel warn
	@printf '\n  Widgets example: http://127.0.0.1:$(WIDGETS_PORT)/   (sign in at $(WIDGETS_SERVICE_URL) first)\n\n'
	cd $(WIDGETS) && exec node_modules/.bin/vite preview --host 127.0.0.1 --port $(WIDGETS_PORT) --strictPort

# Debian packages the system and browser tiers and the benchmark drive. Installed when
# missing and running as root; otherwise those tiers say how to install them.
system-packages:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/tmp/apt-install.log 2>&1 || \
	     (apt-get update -q >/tmp/apt-update.log 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing \
	        >/tmp/apt-install.log 2>&1)) || { tail -20 /tmp/apt-install.log; exit 1; }; \
	  else \
	    echo "missing:$$missing (install them with: sudo apt-get install$$missing)"; \
	  fi; \
	fi

lint: $(STAMP) typecheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m tools.check_doc_links
	$(VENV)/bin/ruff format --check .

# mypy over service/, emulator/ and devstack/, configured in pyproject.toml ([tool.mypy]).
typecheck: $(STAMP)
	$(VENV)/bin/mypy

test-js:
	node --test tests/js/

$(NPM_STAMP): $(EXAMPLES)/package.json $(EXAMPLES)/package-lock.json
	cd $(EXAMPLES) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(NPM_STAMP)

# graphql-token.d.ts against the examples that use it, strict: a drift fails make test.
test-types: $(NPM_STAMP) $(WIDGETS_STAMP)
	cd $(EXAMPLES) && node_modules/.bin/tsc --noEmit -p .
	cd $(WIDGETS) && node_modules/.bin/tsc --noEmit -p .

test-py: $(STAMP)
	$(PY) -m pytest

test: $(STAMP) system-packages lint typecheck test-js test-types test-py

bench: $(STAMP) system-packages
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache artifacts bench/results.json $(EXAMPLES)/node_modules \
	  $(WIDGETS)/node_modules $(WIDGETS)/dist
