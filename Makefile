# Every target creates .venv and installs what it needs on first use; later runs reuse it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: help install run test lint bench clean

help:
	@echo "make run    install and start the runtime with the example app"
	@echo "make test   install, lint (ruff + mypy --strict) and run the tests"
	@echo "make lint   ruff + mypy --strict only"
	@echo "make bench  run every benchmark in quick mode and render bench/REPORT.md"

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "actorgrid needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,daemon]'
	@touch $@

install: $(STAMP)

run: $(STAMP)
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

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
