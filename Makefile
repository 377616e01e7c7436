# SegTune: `make run` serves the app on http://127.0.0.1:8000, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench-sample clean-data

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "SegTune needs Python 3.11+ (set PYTHON=python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[ml,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/segtune db upgrade
	$(BIN)/segtune serve

test: $(STAMP)
	$(BIN)/ruff check backend worker tests bench migrations studies
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check backend worker tests bench migrations studies
	$(BIN)/ruff format --check backend worker tests bench migrations studies

bench-sample: $(STAMP)
	$(BIN)/python -m bench.sample_frames
