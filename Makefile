# Two commands do everything: `make demo` and `make test`. Each creates .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format sample clean

$(BIN)/datasize: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Validates the sample, runs its learning curve and forecast, writes runs/digits/report.html.
demo: $(BIN)/datasize
	$(BIN)/datasize validate data/sample/digits --show 3
	$(BIN)/datasize run recipes/digits.toml

test: $(BIN)/datasize
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(BIN)/datasize
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/datasize
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Rewrites data/sample/digits and data/sample/dirty byte-identically.
sample: $(BIN)/datasize
	$(BIN)/python data/sample/make_sample.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
