# geoviz — `make run` serves the dashboard, `make test` runs every test. Both set up $(VENV) first.
# VENV=... puts the virtual environment elsewhere (CI keeps one per requirements hash).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: run test bench lint golden assets clean help

help:
	@echo "make run    - set up $(VENV) if needed and serve the dashboard on http://$(HOST):$(PORT)"
	@echo "make test   - set up $(VENV) (with test tools) and run the whole test suite"
	@echo "make bench  - print the benchmarks (medians, ratios) of bench/"
	@echo "make lint   - ruff"

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

test: $(VENV)/.dev-installed
	$(PY) -m pytest -q

bench: $(VENV)/.dev-installed
	$(PY) bench/bench_losses.py

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .

golden: $(VENV)/.dev-installed
	$(PY) bench/make_golden.py

clean:
	rm -rf .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
