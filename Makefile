# Quick start:  make demo   (trains the quick-start model)   |   make test   (runs the test suite)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test test-deep tutorials notebooks results drawings bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,tutorials]"
	touch $@

demo: $(VENV)/.dev
	$(BIN)/python tutorials/quickstart.py

test: $(VENV)/.dev
	$(BIN)/python -m pytest

# a long hypothesis run for local use
test-deep: $(VENV)/.dev
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest

tutorials: $(VENV)/.dev
	for f in tutorials/quickstart.py tutorials/[0-9]*.py; do $(BIN)/python $$f || exit 1; done

$(VENV)/.notebook: pyproject.toml | $(VENV)/.dev
	$(BIN)/python -m pip install --quiet -e ".[dev,tutorials,notebook]"
	touch $@

# tutorials/<chapter>.ipynb, executed: printed results, progress bars and pictures inside (git-ignored)
notebooks: $(VENV)/.notebook
	$(BIN)/python tutorials/tools/notebooks.py

# runs every chapter in full and rewrites the README's results table from what they print
results: $(VENV)/.dev
	$(BIN)/python tutorials/tools/results.py

# the README's graph drawings, into tutorials/outputs/drawings/
drawings: $(VENV)/.dev
	$(BIN)/python tutorials/tools/drawings.py

bench: $(VENV)/.dev
	$(BIN)/python -m pip install --quiet "torch==2.13.0" || echo "PyTorch not installable: minigrad alone"
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info tutorials/outputs .pytest_cache .hypothesis
