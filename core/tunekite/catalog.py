"""Which first-party distribution provides which component name.

Used only to turn "unknown name" errors into "install tunekite-lora" advice; a test
keeps this table equal to what the repository's plugins really register.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunekite.plugins import PluginInfo

PROVIDERS: dict[str, dict[str, str]] = {
    "tuners": {"lora": "tunekite-lora"},
    "engines": {"vllm": "tunekite-vllm", "lmdeploy": "tunekite-lmdeploy"},
    "trainers": {
        name: "tunekite-rlhf" for name in ("rlhf", "dpo", "orpo", "simpo", "cpo", "kto", "rm", "ppo", "grpo")
    },
    "quantizers": {"bnb": "tunekite-bnb"},
    "tasks": {"app": "tunekite-app"},
    "models": {"gguf": "tunekite-gguf", "smollm2-135m-instruct": "tunekite-gguf"},
    "datasets": {"self-cognition": "tunekite-self-cognition", "arithmetic": "tunekite-arithmetic"},
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
    },
}


def hints(plugins: Iterable[PluginInfo]) -> dict[str, dict[str, str]]:
    """For each kind and known name, what to tell a user who asked for it."""
    state = {_key(p.distribution): p for p in plugins if p.distribution}
    out: dict[str, dict[str, str]] = {}
    for kind, names in PROVIDERS.items():
        for name, dist in names.items():
            info = state.get(_key(dist))
            if info is None:
                text = f"{name!r} is provided by {dist}: pip install {dist}"
            elif info.status == "disabled":
                text = f"{name!r} is provided by {dist}, installed but not loaded ({info.error})."
            elif info.status == "failed":
                text = f"{name!r} is provided by {dist}, which failed to load: {info.error}"
            else:
                continue
            out.setdefault(kind, {})[name] = text
    return out


def _key(distribution: str) -> str:
    return distribution.lower().replace("_", "-")


def failure_note(plugins: Iterable[PluginInfo]) -> str | None:
    """A pointer to plugins that failed, which may be why a name is unknown."""
    failed = [f"{p.name} ({p.distribution or p.location})" for p in plugins if p.status == "failed"]
    if not failed:
        return None
    return f"Plugins that failed to load: {', '.join(failed)}; see `tk plugins`."
