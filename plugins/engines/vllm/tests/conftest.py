"""One vLLM engine per test session (its start takes a minute or more on a CPU), on the
real SmolLM2-135M-Instruct with a small LoRA adapter served by name. Tests that need it
skip where vLLM is not installed (the main venv); `make test-vllm` runs them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

VLLM_MISSING = "vllm is not installed in this environment; run make test-vllm"
HAS_VLLM = importlib.util.find_spec("vllm") is not None
DTYPE = "float32"
"""The same dtype for vLLM and the pt engine, so greedy decoding can be compared token for token."""
ADAPTER = "kite"


def chatml(tokenizer):
    from tunekite.api import ChatFormat, Template

    fmt = ChatFormat(
        name="chatml",
        system="<|im_start|>system\n{content}<|im_end|>\n",
        user="<|im_start|>user\n{content}<|im_end|>\n",
        assistant_header="<|im_start|>assistant\n",
        assistant_end="<|im_end|>",
        turn_sep="\n",
    )
    return Template.create(fmt, tokenizer)


def write_adapter(folder: Path, target: Path) -> Path:
    """A rank-8 LoRA on the attention projections with random (non-zero) B, so it changes
    the output: what `--adapters` points at."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(0.05)  # a visible but sane change
    peft_model.save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def smollm2() -> SimpleNamespace:
    """The SmolLM2-135M-Instruct folder, tokenizer and chatml template."""
    from transformers import AutoTokenizer

    from tunekite.api import ModelArguments, get_host, model_folder

    folder = model_folder(ModelArguments(model="smollm2-135m-instruct"), host=get_host())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return SimpleNamespace(folder=folder, tokenizer=tokenizer, template=chatml(tokenizer))


@pytest.fixture(scope="session")
def vllm_setup(smollm2, tmp_path_factory) -> SimpleNamespace:
    """The session's vLLM engine (with the `kite` adapter loaded, by name) and what it runs on."""
    if not HAS_VLLM:
        pytest.skip(VLLM_MISSING)
    from tunekite.api import get_host

    adapter = write_adapter(smollm2.folder, tmp_path_factory.mktemp("adapter") / ADAPTER)
    spec = get_host().registry("engines").get("vllm")
    engine = spec.load()(
        smollm2.folder,
        smollm2.tokenizer,
        smollm2.template,
        spec.args(max_model_len=2048, vllm_max_lora_rank=8, max_num_seqs=64),
        adapters=[f"{ADAPTER}={adapter}"],
        torch_dtype=DTYPE,
        seed=0,
    )
    yield SimpleNamespace(engine=engine, adapter=adapter, **vars(smollm2))
    engine.close()
