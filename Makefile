# benzosafe: every command a developer or CI needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/benzosafe serve --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src tests bench

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/check_throughput.py
	$(BIN)/python bench/taper_plans.py
	$(BIN)/python bench/assessment_throughput.py

docs: $(STAMP)
	$(BIN)/benzosafe docs --out docs/rules.md
	$(BIN)/benzosafe assess docs --out docs/assessment.md
	$(BIN)/python -m benzosafe.exports.triage_measure tests/clinical/data/lay_phrases.toml --out docs/triage-measure.md
	$(BIN)/python -m benzosafe.exports.safety_case --hazards docs/hazards.toml --out docs/safety-case.md
	$(BIN)/python -m benzosafe.exports.sources_page --out docs/sources.md
	$(BIN)/python -m benzosafe.cli.reference --out docs/cli.md
	$(BIN)/python -m benzosafe.web.api_reference --out docs/api.md
	$(BIN)/python -m benzosafe.web.cds.examples --out docs/guides/cds-hooks-examples.md
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) site .mypy_cache .pytest_cache .ruff_cache
