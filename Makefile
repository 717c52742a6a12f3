# Every target creates .venv and installs what it needs on first use; later runs reuse it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: help install run demo test lint bench bench-full bench-load clean

help:
	@echo "make run    install and start the daemon (actorgrid run) with the example app"
	@echo "make demo   the same app embedded in one process, with a status line every second"
	@echo "make test   install, lint (ruff + mypy --strict) and run the tests"
	@echo "make lint   ruff + mypy --strict only"
	@echo "make bench  run every benchmark in quick mode and render bench/REPORT.md"
	@echo "make bench-full  the same at the issues' sizes (long: many minutes)"
	@echo "make bench-load  5 s of open-loop load on the load app (bench/results/load/)"

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "actorgrid needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,daemon,bench]'
	@touch $@

install: $(STAMP)

RUN_CONFIG := examples/actorgrid.toml
RUN_PORT   := $(shell $(PYTHON) -c 'import tomllib; print(tomllib.load(open("$(RUN_CONFIG)", "rb"))["daemon"]["port"])' 2>/dev/null || echo 8765)

run: $(STAMP)
	@echo "actorgrid daemon: the order pipeline of examples/app.py on ./actorgrid.db"
	@echo "  API        http://127.0.0.1:$(RUN_PORT)   (token: ./actorgrid.db.token, created on first run)"
	@echo "  dashboard  http://127.0.0.1:$(RUN_PORT)/   log in with the one-time URL of the dashboard_url"
	@echo "             line below (or run: $(BIN)/actorgrid dashboard --config $(RUN_CONFIG))"
	@echo "  try, in another shell:"
	@echo "    curl -s http://127.0.0.1:$(RUN_PORT)/health"
	@echo "    curl -s -X POST -H \"Authorization: Bearer \$$(cat actorgrid.db.token)\" \\"
	@echo "      -d '{\"payload\": {\"order_id\": \"o-manual\", \"sequence\": 9, \"customer\": \"ada\", \"items\": [], \"amount_cents\": 100}}' \\"
	@echo "      http://127.0.0.1:$(RUN_PORT)/v1/topics/orders/messages"
	@echo "    $(BIN)/actorgrid status --config $(RUN_CONFIG)"
	@echo "    $(BIN)/actorgrid retries list --config $(RUN_CONFIG)"
	@echo "    $(BIN)/actorgrid dlq list --config $(RUN_CONFIG)"
	@echo "    $(BIN)/actorgrid patterns --config $(RUN_CONFIG)"
	@echo "    $(BIN)/actorgrid alerts --all --config $(RUN_CONFIG)"
	@echo "    $(BIN)/actorgrid config show --config $(RUN_CONFIG)"
	@echo "    $(BIN)/actorgrid db upgrade --config $(RUN_CONFIG)"
	@echo "    $(BIN)/actorgrid version"
	@echo "  Ctrl-C (or SIGTERM) stops it gracefully; a second Ctrl-C exits at once."
	$(BIN)/actorgrid run --config $(RUN_CONFIG)

demo: $(STAMP)
	$(BIN)/python -m examples.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy typings/actorgrid tests bench examples

test: lint
	$(BIN)/python -m pytest

$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,daemon,bench]'
	@touch $@

bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python -m bench.run_all --quick

bench-full: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python -m bench.run_all --full

bench-load: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python -m bench.load --app bench.load.app:app --rate 1000 --duration 5 \
		--fail-rate 0.02 --payload-bytes 100 --payload-bytes 1000

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
