# roomkit: `make lab` opens the course, `make test` passes every test.
# Both set everything up first and are safe to run again.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.roomkit-installed
VENDOR := roomkit/static/vendor/socket.io.min.js
PYTEST_ARGS ?=
# Most tests wait on real servers, kernels and sandboxes: two workers halve the wait.
TEST_WORKERS ?= 2

.PHONY: setup lab test lint typecheck layers serve cluster bench soak lock clean help

help:
	@echo "make lab      set up, then open the course in JupyterLab"
	@echo "make test     set up, then run every check and test"
	@echo "make serve    run the chat server on http://127.0.0.1:8000"
	@echo "make cluster  run redis-server and two chat servers (ports 8001, 8002)"
	@echo "make bench    run the benchmarks and rewrite docs/benchmarks.md"
	@echo "make soak     run the full-size soak and join-storm tests"
	@echo "make lock     re-pin constraints.txt to the newest allowed versions"

setup: $(STAMP) $(VENDOR)

# Re-installs only when the package's dependencies or their pinned versions
# changed (or the venv is new).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[course,test]'
	@touch $@

# Re-pin constraints.txt to the newest versions pyproject.toml's ranges allow (then
# run `make test` before committing it).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e '.[course,test,bench]'
	{ sed -n '1,3p' constraints.txt; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^#'; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv

# The official Socket.IO client, for the web pages and the interop tests.
$(VENDOR): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && \
		mkdir -p $(dir $@) && \
		cp node_modules/socket.io-client/dist/socket.io.min.js $@ && \
		cp node_modules/socket.io-client/LICENSE $(dir $@)socket.io-client.LICENSE; \
	else \
		echo "roomkit: npm not found; the web pages and the Node interop tests need Node.js and npm" >&2; \
	fi

# Jupyter refuses to run as root unless told; containers often are root.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_ARGS ?=

# The Lab terminal runs `roomkit grade` (notebook 00 says so): it inherits this
# PATH, with the venv first, and runs the user's shell without -l, since a
# login shell's /etc/profile would reset PATH.
lab: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" \
		$(BIN)/jupyter lab notebooks/ $(LAB_FLAGS) \
		--ServerApp.terminado_settings="{'shell_command': ['$${SHELL:-/bin/sh}']}" $(LAB_ARGS)

LINTED := roomkit tests $(wildcard benchmarks)

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: setup
	$(BIN)/mypy

# The layer rules of pyproject.toml's [tool.importlinter].
layers: setup
	$(BIN)/lint-imports --no-cache

test: setup lint typecheck layers
	$(BIN)/roomkit check-course
	$(BIN)/roomkit build --check
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	$(BIN)/python -m pytest -p no:cacheprovider --nbval-lax solutions notebooks

serve: setup
	$(BIN)/roomkit serve

cluster: setup
	$(BIN)/roomkit cluster --nodes 2

BENCH_STAMP := $(VENV)/.roomkit-bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[bench]'
	@touch $@

bench: setup $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

soak: setup
	$(BIN)/python -m pytest -m slow tests/test_soak.py tests/test_backlog.py --soak-cycles 2000 --backlog-seconds 60
	$(BIN)/python -m pytest -s tests/test_storms.py --storm-members 3000

clean:
	rm -rf $(VENV) node_modules roomkit/static/vendor .pytest_cache .mypy_cache .ruff_cache
