# SegTune: `make run` serves the app on http://127.0.0.1:8000, `make test` runs the suite.
# `make run` installs what running needs (the app, its worker and PyTorch); `make test` adds
# the test tools (the `dev` extra of pyproject.toml) on top.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-stamp
TEST_STAMP := $(VENV)/.test-stamp

.PHONY: run test lint bench-sample clean-data

$(RUN_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "SegTune needs Python 3.11+ (set PYTHON=python3.11)"; exit 1; }
	@echo "==> [1/3] Creating the virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] Updating pip"
	$(BIN)/python -m pip install --upgrade pip
	@echo "==> [3/3] Installing SegTune with its worker and PyTorch (a few minutes the first time)"
	$(BIN)/python -m pip install -e '.[ml]'
	@touch $(RUN_STAMP)
	@echo "==> Installed. Next time this step is skipped until pyproject.toml changes."

$(TEST_STAMP): $(RUN_STAMP)
	@echo "==> Installing the test tools (pytest, Playwright, ruff, ...)"
	$(BIN)/python -m pip install -e '.[ml,dev]'
	@touch $(TEST_STAMP)

run: $(RUN_STAMP)
	@echo "==> Migrating the database"
	$(BIN)/segtune db upgrade
	@echo "==> Starting the web app and a worker"
	$(BIN)/segtune serve

test: $(TEST_STAMP)
	$(BIN)/ruff check backend worker tests bench migrations studies
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check backend worker tests bench migrations studies
	$(BIN)/ruff format --check backend worker tests bench migrations studies

bench-sample: $(TEST_STAMP)
	$(BIN)/python -m bench.sample_frames
