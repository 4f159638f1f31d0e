# Two commands do everything on a fresh machine with Python >= 3.11 and make:
#   make run    set up .venv and run the main job on its small default
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.installed-test-stamp
BENCH_STAMP := $(VENV)/.installed-bench-stamp
DOCS_STAMP := $(VENV)/.installed-docs-stamp

.PHONY: run test check bench gallery docs setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

# the test extras (pytest, notebook runners) and the optional Ray executor, which the tests cover
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,ray]"
	touch $(TEST_STAMP)

run: $(STAMP)
	$(VENV)/bin/ibl run sparse-recovery --out runs/sparse-recovery-default

test: $(TEST_STAMP)
	$(PY) -m pytest -q -n 2 tests

check: $(STAMP)
	$(VENV)/bin/ibl check

# the README's pictures, regenerated from the code (experiments/gallery.py; minutes, not part of test)
gallery: $(STAMP)
	$(VENV)/bin/ibl gallery

# benchmark-only extras: the pinned CPU build of PyTorch for the per-run baseline
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks

# the documentation site's tools (the docs extra: mkdocs, material, mkdocstrings, jupytext)
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

# the documentation site (mkdocs.yml) in site/; --strict: a broken link, anchor or API reference fails
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet -d site

clean:
	rm -rf $(VENV) runs site .pytest_cache
