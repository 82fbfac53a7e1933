# The two commands in the README: `make plan` and `make test`. Both set up first.
# `make plan` needs only Python >= 3.11 (no root); `make test` also installs the tools the
# integration tests drive (apt, root or sudo). PYTHON=/path/to/python3.12 picks the interpreter.
SHELL   := /bin/bash
VENV    := .venv
PY      := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime
STAMP   := $(VENV)/.installed

.PHONY: setup system-tools plan test lint golden bench clean

setup: $(STAMP) system-tools

# Re-install only when the pinned requirements or the package metadata change.
# The runtime: what the Pulumi program and the CLI need.
$(RUNTIME): requirements.txt pyproject.toml
	bash scripts/setup-venv.sh runtime
	touch $(RUNTIME)

# Plus the test and lint tools.
$(STAMP): $(RUNTIME) requirements-dev.txt
	bash scripts/setup-venv.sh dev
	touch $(STAMP)

# Real tools the integration tests drive (etcd, etcdctl, cloud-init, kubectl, shellcheck).
system-tools:
	bash scripts/install-system-tools.sh

plan: $(RUNTIME)
	$(VENV)/bin/fleetform plan --stack dev

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: setup lint
	$(PY) -m pytest

# Regenerate golden files (review the diff before committing).
golden: $(STAMP)
	$(PY) -m tests.golden

bench: $(RUNTIME)
	$(PY) bench/plan_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
