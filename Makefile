# Two commands do all the set-up on a fresh clone (see README.md):
#   make demo   creates .venv, installs kaokae, runs its built-in demo
#   make test   creates .venv, installs kaokae with the dev tools, runs ruff and the whole test suite
# The install runs again only when pyproject.toml or requirements.lock changed (the stamp file is older).

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint install

$(STAMP): pyproject.toml requirements.lock
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/kaokae demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

test: lint
	$(VENV)/bin/python -m pytest
