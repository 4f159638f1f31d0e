# Two commands do everything on a fresh machine with Python >= 3.11 and make:
#   make run    set up .venv and run the main job on its small default
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test check bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ibl run sparse-recovery --out runs/sparse-recovery-default

test: $(STAMP)
	$(PY) -m pytest -q -n 2 tests

check: $(STAMP)
	$(VENV)/bin/ibl check

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
