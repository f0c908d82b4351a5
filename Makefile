# The index of what a developer can do. `make help` lists the targets.
PY      := .venv/bin/python
BIN     := .venv/bin
HOST    ?= 127.0.0.1
PORT    ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RAGAS_DO_NOT_TRACK := true
export ANONYMIZED_TELEMETRY := False

.PHONY: help install run ingest serve test lint format typecheck unit eval bench corpus-check clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

.venv/.installed: pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: .venv/.installed ## Create .venv and install the project with its test extras

ingest: install ## Bring the index up to date with corpus/ (a no-op when nothing changed)
	$(BIN)/assistant ingest

run: install ingest ## Install, ingest when needed, and serve on http://$(HOST):$(PORT)
	$(BIN)/assistant serve --host $(HOST) --port $(PORT)

serve: install ## Serve without checking the index
	$(BIN)/assistant serve --host $(HOST) --port $(PORT)

lint: install ## Ruff lint and format check
	$(BIN)/ruff check assistant tests bench evals
	$(BIN)/ruff format --check assistant tests bench evals

format: install ## Format the code with ruff
	$(BIN)/ruff format assistant tests bench evals
	$(BIN)/ruff check --fix assistant tests bench evals

typecheck: install ## mypy on the package
	$(BIN)/mypy

corpus-check: install ## Validate the corpus
	$(BIN)/assistant corpus check

unit: install ## Only pytest
	$(BIN)/pytest

test: lint typecheck unit ## Ruff, mypy and the whole pytest suite (what CI runs)

eval: install ingest ## The full evaluation (test split) with HTML/JSON/markdown reports in reports/
	$(BIN)/assistant eval --dataset golden --split test --out reports/latest

bench: install ingest ## Benchmarks: ingest, latency, retrieval quality
	$(PY) bench/run.py

clean: ## Remove the index and reports (not the virtualenv)
	rm -rf data reports test-output
