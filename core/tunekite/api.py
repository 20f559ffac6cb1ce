"""The public API for plugins: everything a plugin may import from core.

Plugin modules import this while `tk --help` starts, so the names that pull in the
argument groups and the run machinery are loaded on first access.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunekite import API_VERSION, __version__, hookimpl
from tunekite.arguments.fields import ArgField, arg, fields_of
from tunekite.constants import DEFAULT_ADAPTER, IGNORE_INDEX
from tunekite.errors import (
    ArgumentError,
    DuplicateNameError,
    PluginError,
    TunekiteError,
    UnknownNameError,
)
from tunekite.registrations import (
    ComponentSpec,
    DatasetSpec,
    EngineSpec,
    EvaluatorSpec,
    ExporterSpec,
    LossScaleSpec,
    ModelSpec,
    ParallelismSpec,
    QuantizerSpec,
    RewardSpec,
    TaskSpec,
    TemplateSpec,
    TrainerSpec,
    TunerSpec,
)

if TYPE_CHECKING:
    from tunekite.arguments.groups import DataArguments, ModelArguments, TemplateArguments, TunerArguments
    from tunekite.data.loading import load_datasets
    from tunekite.data.prepare import prepare_datasets
    from tunekite.data.preview import preview_rows
    from tunekite.data.prompts import prompt_datasets
    from tunekite.distributed import world_size
    from tunekite.engines.client import ClientEngine
    from tunekite.engines.logprobs import token_logprobs
    from tunekite.engines.protocol import (
        ChatRequest,
        ChatResponse,
        TokenLogprob,
        request_from_generation,
        request_prompt_ids,
    )
    from tunekite.engines.stops import StopWords
    from tunekite.evaluation.metrics import bleu_4, exact_match, math_verified, mean, rouge_l, text_scores
    from tunekite.evaluation.results import DatasetResult, EvalJob, EvalSample
    from tunekite.launcher import Run
    from tunekite.models.loader import load_model, load_tokenizer, model_folder
    from tunekite.plugin_host import PluginHost, get_host, registry
    from tunekite.run_folder import base_folder
    from tunekite.serving.exposure import warn_if_exposed
    from tunekite.tasks.infer import engine_for, inference_engine
    from tunekite.tasks.loading import load_for_inference, named_adapters, with_checkpoint_args
    from tunekite.tasks.staging import staged_into
    from tunekite.templates.encoder import Template
    from tunekite.templates.format import ChatFormat
    from tunekite.templates.loss_scale import LossScale, Piece
    from tunekite.templates.resolve import build_template
    from tunekite.training.checkpoints import (
        AtomicCheckpoints,
        commit_checkpoint,
        load_weights,
        train_resuming,
    )
    from tunekite.training.hf_args import training_config
    from tunekite.training.outputs import (
        JsonlLogger,
        checkpoint_describer,
        checkpoint_description,
        describe_checkpoint,
        finish_run,
        standard_callbacks,
        train_and_finish,
        write_manifest,
    )
    from tunekite.training.policy import Policy, apply_tuner, load_policy, tuner_optimizer
    from tunekite.training.tuner_batches import TrainingBatches
    from tunekite.tuners import apply_peft, peft_target_modules, peft_task_type

__all__ = [
    "API_VERSION",
    "DEFAULT_ADAPTER",
    "IGNORE_INDEX",
    "ArgField",
    "ArgumentError",
    "AtomicCheckpoints",
    "ChatFormat",
    "ChatRequest",
    "ChatResponse",
    "ClientEngine",
    "ComponentSpec",
    "DataArguments",
    "DatasetResult",
    "DatasetSpec",
    "DuplicateNameError",
    "EngineSpec",
    "EvalJob",
    "EvalSample",
    "EvaluatorSpec",
    "ExporterSpec",
    "JsonlLogger",
    "LossScale",
    "LossScaleSpec",
    "ModelArguments",
    "ModelSpec",
    "ParallelismSpec",
    "Piece",
    "PluginError",
    "PluginHost",
    "Policy",
    "QuantizerSpec",
    "RewardSpec",
    "Run",
    "StopWords",
    "TaskSpec",
    "Template",
    "TemplateArguments",
    "TemplateSpec",
    "TokenLogprob",
    "TrainerSpec",
    "TrainingBatches",
    "TunekiteError",
    "TunerArguments",
    "TunerSpec",
    "UnknownNameError",
    "__version__",
    "apply_peft",
    "apply_tuner",
    "arg",
    "base_folder",
    "bleu_4",
    "build_template",
    "checkpoint_describer",
    "checkpoint_description",
    "commit_checkpoint",
    "describe_checkpoint",
    "engine_for",
    "exact_match",
    "fields_of",
    "finish_run",
    "get_host",
    "hookimpl",
    "inference_engine",
    "load_datasets",
    "load_for_inference",
    "load_model",
    "load_policy",
    "load_tokenizer",
    "load_weights",
    "math_verified",
    "mean",
    "model_folder",
    "named_adapters",
    "peft_target_modules",
    "peft_task_type",
    "prepare_datasets",
    "preview_rows",
    "prompt_datasets",
    "registry",
    "request_from_generation",
    "request_prompt_ids",
    "resolve",
    "rouge_l",
    "staged_into",
    "standard_callbacks",
    "start",
    "text_scores",
    "token_logprobs",
    "train_and_finish",
    "train_resuming",
    "training_config",
    "tuner_optimizer",
    "warn_if_exposed",
    "with_checkpoint_args",
    "world_size",
    "write_manifest",
]

_LAZY = {
    "ChatRequest": "tunekite.engines.protocol",
    "ChatResponse": "tunekite.engines.protocol",
    "ClientEngine": "tunekite.engines.client",
    "request_from_generation": "tunekite.engines.protocol",
    "request_prompt_ids": "tunekite.engines.protocol",
    "TokenLogprob": "tunekite.engines.protocol",
    "StopWords": "tunekite.engines.stops",
    # Scoring replies, for evaluators, rewards and metrics.
    "bleu_4": "tunekite.evaluation.metrics",
    "exact_match": "tunekite.evaluation.metrics",
    "math_verified": "tunekite.evaluation.metrics",
    "mean": "tunekite.evaluation.metrics",
    "rouge_l": "tunekite.evaluation.metrics",
    "text_scores": "tunekite.evaluation.metrics",
    "DatasetResult": "tunekite.evaluation.results",
    "EvalJob": "tunekite.evaluation.results",
    "EvalSample": "tunekite.evaluation.results",
    "token_logprobs": "tunekite.engines.logprobs",
    "load_for_inference": "tunekite.tasks.loading",
    "inference_engine": "tunekite.tasks.infer",
    "preview_rows": "tunekite.data.preview",
    "base_folder": "tunekite.run_folder",
    "named_adapters": "tunekite.tasks.loading",
    "with_checkpoint_args": "tunekite.tasks.loading",
    "engine_for": "tunekite.tasks.infer",
    "staged_into": "tunekite.tasks.staging",
    "prompt_datasets": "tunekite.data.prompts",
    "warn_if_exposed": "tunekite.serving.exposure",
    "prepare_datasets": "tunekite.data.prepare",
    "world_size": "tunekite.distributed",
    "DataArguments": "tunekite.arguments.groups",
    "ModelArguments": "tunekite.arguments.groups",
    "Template": "tunekite.templates.encoder",
    "TemplateArguments": "tunekite.arguments.groups",
    "build_template": "tunekite.templates.resolve",
    "load_datasets": "tunekite.data.loading",
    "load_model": "tunekite.models.loader",
    "load_tokenizer": "tunekite.models.loader",
    "model_folder": "tunekite.models.loader",
    "ChatFormat": "tunekite.templates.format",
    "LossScale": "tunekite.templates.loss_scale",
    "Piece": "tunekite.templates.loss_scale",
    "PluginHost": "tunekite.plugin_host",
    "Run": "tunekite.launcher",
    "TunerArguments": "tunekite.arguments.groups",
    "get_host": "tunekite.plugin_host",
    "registry": "tunekite.plugin_host",
    # The training outputs every trainer writes alike: imported when a run trains.
    "AtomicCheckpoints": "tunekite.training.checkpoints",
    "load_weights": "tunekite.training.checkpoints",
    "commit_checkpoint": "tunekite.training.checkpoints",
    "train_resuming": "tunekite.training.checkpoints",
    "training_config": "tunekite.training.hf_args",
    "JsonlLogger": "tunekite.training.outputs",
    "describe_checkpoint": "tunekite.training.outputs",
    "write_manifest": "tunekite.training.outputs",
    "checkpoint_describer": "tunekite.training.outputs",
    "checkpoint_description": "tunekite.training.outputs",
    "standard_callbacks": "tunekite.training.outputs",
    "finish_run": "tunekite.training.outputs",
    "train_and_finish": "tunekite.training.outputs",
    # Preparing the policy every trainer trains.
    "Policy": "tunekite.training.policy",
    "load_policy": "tunekite.training.policy",
    "apply_tuner": "tunekite.training.policy",
    "tuner_optimizer": "tunekite.training.policy",
    "TrainingBatches": "tunekite.training.tuner_batches",
    # What peft-based tuners share: imported when a tuner is applied.
    "apply_peft": "tunekite.tuners",
    "peft_target_modules": "tunekite.tuners",
    "peft_task_type": "tunekite.tuners",
}


def resolve(name: str, argv: Sequence[str], host: PluginHost | None = None) -> tuple[Run, bool]:
    """`tk run NAME ARGV` parsed, not started: the `Run` and whether `--help` was asked for.
    `host` defaults to the process-wide plugin host, as for `tk` itself."""
    from tunekite.launcher import resolve as resolve_run
    from tunekite.plugin_host import get_host

    return resolve_run(name, argv, host or get_host())


def start(name: str, argv: Sequence[str], host: PluginHost | None = None) -> Any:
    """`tk run NAME ARGV`: resolved and started; returns what the runnable returns.
    `host` defaults to the process-wide plugin host, as for `tk` itself."""
    from tunekite.launcher import start as start_run
    from tunekite.plugin_host import get_host

    return start_run(name, argv, host or get_host())


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunekite.api' has no attribute {name!r}")
