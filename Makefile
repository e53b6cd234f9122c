# Quick start:  make demo   (trains the quick-start model)   |   make test   (runs the test suite)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test test-deep tutorials notebooks bench clean

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

notebooks: $(VENV)/.dev
	$(BIN)/python -m jupytext --to ipynb tutorials/[0-9q]*.py

bench: $(VENV)/.dev
	$(BIN)/python -m pip install --quiet "torch==2.13.0" || echo "PyTorch not installable: minigrad alone"
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info tutorials/outputs .pytest_cache .hypothesis
