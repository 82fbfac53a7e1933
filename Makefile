# The two commands in the README: `make plan` and `make test`. Both set up first.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system-tools plan test lint golden bench clean

setup: $(STAMP) system-tools

# Re-installs only when the pinned requirements or the package metadata change.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Real tools the integration tests drive (etcd, etcdctl, cloud-init, kubectl).
system-tools:
	bash scripts/install-system-tools.sh

plan: setup
	$(VENV)/bin/fleetform plan --stack dev

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: setup lint
	$(PY) -m pytest

# Regenerate golden files (review the diff before committing).
golden: setup
	$(PY) -m tests.golden

bench: setup
	$(PY) bench/plan_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
