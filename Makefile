# geoviz — `make run` serves the dashboard, `make test` runs every test. Both set up $(VENV) first.
# VENV=... puts the virtual environment elsewhere (CI keeps one per requirements hash).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: run test bench lint docs golden assets clean help

help:
	@echo "make run    - set up $(VENV) if needed and serve the dashboard on http://$(HOST):$(PORT)"
	@echo "make test   - set up $(VENV) (with test tools) and run the whole test suite"
	@echo "make bench  - print the benchmarks (medians, ratios) of bench/"
	@echo "make lint   - ruff"
	@echo "make docs   - the API reference of losses and geoviz, from the docstrings, into docs/api/ (offline)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null

# Stamps record what was installed; a changed requirements file reinstalls.
$(VENV)/.req-installed: requirements.txt | $(PY)
	$(PY) -m pip install -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.req-installed
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

run: $(VENV)/.req-installed
	$(PY) app.py --host $(HOST) --port $(PORT)

# one pytest process per core, at most 4 (each test process then runs torch on the cores it has):
# the browser and subprocess tests wait much of their time, and the suite fits CI's 2 cores
test: $(VENV)/.dev-installed
	$(PY) -m pytest -q -n auto --maxprocesses=4 --durations=15

bench: $(VENV)/.dev-installed
	$(PY) bench/bench_losses.py

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .

# pdoc renders the docstrings (reStructuredText style) to static HTML; no network at build or view time
docs: $(VENV)/.dev-installed
	$(PY) -m pdoc losses geoviz --docformat google -o docs/api
	@echo "open docs/api/index.html"

golden: $(VENV)/.dev-installed
	$(PY) bench/make_golden.py

clean:
	rm -rf .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
