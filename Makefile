# The two commands a new user needs: `make run` and `make test`. Both set up .venv when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= ./.aiops-data

.PHONY: setup run test test-unit chaos bench schema clean

setup: $(STAMP)
	bash scripts/build_console.sh

# torch is installed first, pinned to the CPU build, so sentence-transformers does not pull CUDA.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: setup
	$(VENV)/bin/aiops up --data-dir $(DATA_DIR) --demo

test: setup
	bash scripts/install_browser.sh
	bash scripts/test.sh

test-unit: setup
	$(PY) -m pytest tests/unit -q

# Crashes, restarts and a NATS restart under load; ends with `lost=N duplicated=M` (docs/RELIABILITY.md).
chaos: setup
	bash scripts/chaos.sh

schema: setup
	$(VENV)/bin/aiops schema

clean:
	rm -rf $(VENV) .pytest_cache .aiops-data
