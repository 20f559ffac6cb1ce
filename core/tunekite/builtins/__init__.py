"""Core's built-in components, registered through the same hooks as any plugin."""

from __future__ import annotations

from collections.abc import Callable

from tunekite import hookimpl
from tunekite.builtins.chat_formats import DEFAULT
from tunekite.builtins.full import FullArguments
from tunekite.registrations import (
    EngineSpec,
    ExporterSpec,
    LossScaleSpec,
    ModelSpec,
    ParallelismSpec,
    TaskSpec,
    TemplateSpec,
    TrainerSpec,
    TunerSpec,
)
from tunekite.tasks.arguments import DeployArguments, EvalArguments, ExportArguments, InferArguments
from tunekite.templates import loss_scale

TRAINING_GROUPS = ("model", "data", "template", "quantization", "tuner", "training", "evaluation")
_NOT_SFT = (("loss_type", "sft and pt train on the template-weighted cross-entropy (rlhf reads it)"),)
_NOT_FULL = tuple(
    (name, "full trains the model's own weights; pick them with --freeze_parameters/--trainable_parameters")
    for name in ("target_modules", "target_regex", "modules_to_save")
)


@hookimpl
def tk_register_trainers(register: Callable[[TrainerSpec], None]) -> None:
    recipe = "tunekite.trainers.sft:train"
    register(
        TrainerSpec(
            name="sft",
            summary="Supervised fine-tuning on conversations",
            groups=TRAINING_GROUPS,
            factory=recipe,
            rejects=_NOT_SFT,
        )
    )
    register(
        TrainerSpec(
            name="pt",
            summary="Continued pre-training on plain text, every token trained",
            groups=TRAINING_GROUPS,
            factory=recipe,
            rejects=_NOT_SFT,
            defaults=(("use_chat_template", False), ("loss_scale", "all")),
        )
    )


@hookimpl
def tk_register_tuners(register: Callable[[TunerSpec], None]) -> None:
    register(
        TunerSpec(
            name="full",
            summary="Train every parameter, optionally freezing some",
            args=FullArguments,
            factory="tunekite.builtins.full:prepare",
            learning_rate=1e-5,
            rejects=_NOT_FULL,
        )
    )


@hookimpl
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(
        TemplateSpec(
            format=DEFAULT,
            summary="Plain '### Human: / ### Assistant:' turns, for models without a chat template",
        )
    )
    register(
        TemplateSpec(
            name="jinja",
            summary="The tokenizer's own chat template, labels found by rendering growing prefixes",
            factory="tunekite.builtins.jinja:jinja_template",
        )
    )


_LOSS_SCALES = {
    "default": (loss_scale.LossScale(), "Every assistant reply and its end-of-turn token"),
    "last_round": (loss_scale.LastRound(), "Only the final assistant reply"),
    "all": (loss_scale.AllTokens(), "Every token, prompts included"),
    "react": (loss_scale.REACT, "ReAct agents: Action/Action Input weigh 2, observations 0"),
    "alpha_umi": (loss_scale.ALPHA_UMI, "Alpha-UMI agents: like react, plus Next: steps"),
    "agentflan": (loss_scale.AGENTFLAN, "Agent-FLAN: tool names and arguments weigh 3"),
    "qwen": (loss_scale.QWEN, "Qwen function calls: function name and arguments weigh 2"),
}


@hookimpl
def tk_register_loss_scales(register: Callable[[LossScaleSpec], None]) -> None:
    for name, (scale, summary) in _LOSS_SCALES.items():
        register(LossScaleSpec(name=name, summary=summary, factory=lambda _args, s=scale: s))


@hookimpl
def tk_register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="hf",
            summary="A Hugging Face model folder or hub id (the default for --model PATH)",
            factory="tunekite.models.loader:load_hf",
        )
    )


@hookimpl
def tk_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    register(
        TaskSpec(
            name="infer",
            summary="Chat with a model or adapter checkpoint, or answer a dataset into a jsonl",
            groups=("model", "data", "template", "generation", "quantization", "adapters"),
            args=InferArguments,
            factory="tunekite.tasks.infer:run",
            defaults=(("split_dataset_ratio", 0.0),),
        )
    )
    register(
        TaskSpec(
            name="export",
            summary="Merge, quantize, convert to GGUF/Ollama and push to the hub (`tk list exporters`)",
            groups=("model", "template", "adapters"),
            args=ExportArguments,
            factory="tunekite.tasks.export:run",
            defaults=(("add_version", False),),
        )
    )
    register(
        TaskSpec(
            name="deploy",
            summary="Serve a model and its LoRA adapters over an OpenAI-compatible HTTP API",
            groups=("model", "template", "generation", "adapters"),
            args=DeployArguments,
            factory="tunekite.tasks.deploy:run",
        )
    )
    register(
        TaskSpec(
            name="eval",
            summary="Score a model, adapter or running server on datasets (`tk list evaluators`)",
            groups=("model", "template", "generation", "quantization", "adapters"),
            args=EvalArguments,
            factory="tunekite.tasks.evaluate:run",
            defaults=(("temperature", 0.0), ("max_new_tokens", 512)),
        )
    )


@hookimpl
def tk_register_exporters(register: Callable[[ExporterSpec], None]) -> None:
    register(
        ExporterSpec(
            name="merge",
            summary="Merge the --adapters into the base model (--merge_lora true), a transformers folder",
            factory="tunekite.tasks.export:merge",
        )
    )


@hookimpl
def tk_register_engines(register: Callable[[EngineSpec], None]) -> None:
    register(
        EngineSpec(
            name="pt",
            summary="PyTorch: transformers generate with batching, streaming and logprobs",
            factory="tunekite.engines.pt:build",
        )
    )


@hookimpl
def tk_register_parallelisms(register: Callable[[ParallelismSpec], None]) -> None:
    register(
        ParallelismSpec(
            name="fsdp",
            summary="PyTorch FSDP through accelerate: parameter, gradient and optimizer sharding",
            factory="tunekite.builtins.fsdp:training_fields",
            before_model="tunekite.builtins.fsdp:training_fields",  # refuses before the model loads
        )
    )
