# driftd — the two entry points a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv

.PHONY: demo test lint typecheck unit bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode is compiled once here: with PYTHONDONTWRITEBYTECODE set (as on the CI machine)
# nothing is ever cached, and every Python process the tests start (collectors, CLI runs,
# demos) would compile pandas, scipy, river and the rest from source again (~6 s each).
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON) --compile-bytecode
	touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/driftd demo

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy

test: lint typecheck
	$(VENV)/bin/python -m compileall -q src
	$(VENV)/bin/pytest

unit: $(VENV)/.synced
	$(VENV)/bin/python -m compileall -q src
	$(VENV)/bin/pytest -m "not kafka and not postgres and not slow"

bench: $(VENV)/.synced
	$(VENV)/bin/python bench/pipeline_bench.py

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
