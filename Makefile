# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := build/digits
DEMO_RUN := build/runs/digits

.PHONY: install demo test test-all benchmark clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: install
	$(BIN)/labelfix example digits $(DEMO)
	$(BIN)/labelfix scan $(DEMO) --out $(DEMO_RUN)
	$(BIN)/labelfix example check $(DEMO) $(DEMO_RUN)

test: install
	$(BIN)/python -m pytest -q

test-all: install  # the suite and the opt-in slow tests (an ensemble scan, torchrun with two processes)
	$(BIN)/python -m pytest -q -m 'not gpu'

benchmark: install
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf build $(VENV)
