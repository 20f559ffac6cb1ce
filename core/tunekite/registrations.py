"""Registrations as typed, frozen data.

A plugin hands one of these to the `register` callable its `tk_register_<kind>` hook
receives. A spec is cheap to build: the heavy work sits behind `factory`, an import
path ("package.module:attribute") or a callable, resolved only when the component is
used, so listing plugins never imports torch.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from tunekite.arguments.fields import fields_of
from tunekite.templates.format import ChatFormat

_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]*")
_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def _resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """A callable, or the object an import path 'module:attribute' names."""
    if callable(target):
        return target
    module_name, _, attr = target.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        found = getattr(found, part)
    return found


@dataclass(frozen=True, kw_only=True)
class ComponentSpec:
    """What every registered component has: a name, a summary, arguments, a factory."""

    kind: ClassVar[str] = ""

    name: str
    summary: str
    factory: str | Callable[..., Any]
    args: type | None = None
    aliases: tuple[str, ...] = ()
    rejects: tuple[tuple[str, str], ...] = ()
    """Core arguments meant for its kind that this component does not read, as (name,
    reason) pairs: when it is selected (or started, for a trainer or task), a value other
    than the default stops the run with the reason (`full` refuses `--target_modules`,
    sft refuses `--loss_type`, which rlhf reads)."""

    def __post_init__(self) -> None:
        what = f"{self.kind[:-1]} {self.name!r}"
        for name in (self.name, *self.aliases):
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ValueError(f"{what}: name {name!r} must be lower-case [a-z0-9_.-]")
        if not isinstance(self.summary, str) or not self.summary.strip() or "\n" in self.summary.strip():
            raise ValueError(f"{what}: summary must be one non-empty line")
        if isinstance(self.factory, str) and not _FACTORY.fullmatch(self.factory):
            raise ValueError(f"{what}: factory {self.factory!r} is not 'module:attribute'")
        if not isinstance(self.factory, str) and not callable(self.factory):
            raise ValueError(f"{what}: factory must be an import path or a callable")
        if self.args is not None:
            try:
                list(fields_of(self.args))
            except TypeError as exc:
                raise ValueError(f"{what}: arguments {exc}") from None

    def load(self) -> Callable[..., Any]:
        """Resolve the factory, importing its module on first use."""
        return _resolve(self.factory)

    def default_args(self) -> Any:
        """The component's argument dataclass filled with its defaults (None without one)."""
        return self.args() if self.args is not None else None


@dataclass(frozen=True, kw_only=True)
class ModelSpec(ComponentSpec):
    """A model loader or a named model, picked for `--model` by `tunekite.models`.

    Factory: `(model_args, *, max_length=None, **from_pretrained_kwargs) -> (model,
    tokenizer)`, where `model_args` is core's `ModelArguments` and `max_length` the
    run's `--max_length` (for RoPE scaling). The default factory is core's Hugging Face
    loader, which applies every model argument (dtype, attention, device map, ...).

    - `template`: the chat template this model declares, used when `--template` is unset.
    - `file_suffixes`: `--model` paths ending in one of these (case-insensitive, e.g.
      `(".gguf",)`) are claimed by this spec instead of the Hugging Face loader.
    - `folder`: `(model) -> path of a standard Hugging Face model folder`, an import
      path or a callable. Set it when the weights can be turned into such a folder (a
      named model's bundled file, a converted GGUF): the factory then receives that
      folder as `model_args.model`, and a tokenizer-only load reads just the folder's
      tokenizer files instead of calling the factory.
    - `architectures`: config.json `architectures` this model type loads; a local folder
      without `--model_type` is given the model type whose architectures list its own (the
      one whose template its chat template matches, when several do).
    - `default_system`: the system prompt used when a conversation and `--system` give none.
    - `trust_remote_code`: the model's code ships in its folder (`trust_remote_code=True`).
    """

    kind: ClassVar[str] = "models"
    factory: str | Callable[..., Any] = "tunekite.models.loader:load_hf"
    template: str | None = None
    architectures: tuple[str, ...] = ()
    default_system: str | None = None
    trust_remote_code: bool = False
    file_suffixes: tuple[str, ...] = ()
    folder: str | Callable[[str], Any] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for suffix in self.file_suffixes:
            if not suffix.startswith(".") or suffix != suffix.lower():
                raise ValueError(f"model {self.name!r}: file suffix {suffix!r} must look like '.gguf'")
        if isinstance(self.folder, str) and not _FACTORY.fullmatch(self.folder):
            raise ValueError(f"model {self.name!r}: folder {self.folder!r} is not 'module:attribute'")

    def load_folder(self) -> Callable[[str], Any] | None:
        """Resolve `folder`, importing its module on first use (None when unset)."""
        return None if self.folder is None else _resolve(self.folder)


ENCODER = "tunekite.templates.encoder:Template.create"
"""The default template factory: core's encoder, bound to the spec's format."""


@dataclass(frozen=True, kw_only=True)
class TemplateSpec(ComponentSpec):
    """A chat template family: `TemplateSpec(format=CHATML, summary=...)`, where `format` is
    the family's `ChatFormat` (see `tunekite.api.ChatFormat`). The template's name is its
    format's `name`, written once there; a `name=` that differs is an error. A template
    whose layout comes from the tokenizer (one rendering its own Jinja chat template)
    registers `name=` and its own `factory` with no format, and gets `format=None`.

    Factory: `(format, tokenizer, template_args, *, loss_scale) -> Template`, by default
    core's encoder (`tunekite.api.Template.create`); `template_args` is core's
    `TemplateArguments` (or None) and `loss_scale` the `LossScale` that `--loss_scale`
    names, resolved by whoever builds the template (`tunekite.api.build_template`).

    `chat_template_markers` are substrings of a tokenizer's own Jinja chat template that
    identify this family; when `--template` is not given, the template whose markers
    all appear (the most of them, on a tie) is chosen.
    """

    kind: ClassVar[str] = "templates"
    format: ChatFormat | None = None
    name: str = ""
    factory: str | Callable[..., Any] = ENCODER
    chat_template_markers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.format is None:
            if self.factory == ENCODER:
                raise ValueError(
                    f"template {self.name!r}: give its ChatFormat (format=), or the factory that "
                    "builds it from the tokenizer"
                )
        elif not isinstance(self.format, ChatFormat):
            got = type(self.format).__name__
            raise ValueError(f"template {self.name!r}: format must be a ChatFormat, got {got}")
        elif self.name and self.name != self.format.name:
            raise ValueError(
                f"template {self.name!r}: its format is named {self.format.name!r}; the name is the "
                "format's, leave name= out"
            )
        else:
            object.__setattr__(self, "name", self.format.name)
        super().__post_init__()

    def build(self, tokenizer: Any, template_args: Any = None, *, loss_scale: Any = None) -> Any:
        """The `Template`: this family's format bound to `tokenizer` and the template arguments."""
        return self.load()(self.format, tokenizer, template_args, loss_scale=loss_scale)


@dataclass(frozen=True, kw_only=True)
class TunerSpec(ComponentSpec):
    """A way to adapt a model. Factory: `(model, tuner_args, common) -> model`, where
    `common` is core's `TunerArguments` (target_modules, target_regex, modules_to_save),
    plus `batches=` for a tuner that sets `uses_training_batches`.

    `learning_rate` is the default the trainer uses when `--learning_rate` is unset
    (ms-swift: 1e-4 for tuners, 1e-5 for full fine-tuning).
    """

    kind: ClassVar[str] = "tuners"
    learning_rate: float = 1e-4
    optimizer: str | Callable[..., Any] | None = None
    """`(model, *, args, run) -> torch.optim.Optimizer | None`: the tuner's own optimizer
    (LoRA+ gives its B matrices a larger learning rate); None, or a None result, keeps
    the trainer's `--optim`."""

    adapter_loader: str | Callable[..., Any] | None = None
    """`(model, folder) -> model`: the model with an adapter this tuner saved in `folder` added,
    for a tuner whose checkpoints are not peft adapters (ReFT's interventions). `--adapters`
    calls it for a checkpoint whose args.json records this tuner; None: peft loads it."""

    uses_training_batches: bool = False
    """True for a tuner initialised from the training data (LoRA-GA estimates gradients on a
    few batches): the factory is also given `batches=`, a `tunekite.api.TrainingBatches` over
    the run's encoded training set, or None where the trainer has none to give (sft and pt
    give it); a tuner that needs them then refuses in one line."""

    checkpoint_converter: str | Callable[..., Any] | None = None
    """`(model, folder) -> bool`: for a tuner that changed the base weights when it was created
    (LoRA-GA), rewrites the adapter the trainer just saved into the staged checkpoint `folder`
    as one that applies to the original base model, before the checkpoint is published; True
    when it did. sft and pt call it; a converted checkpoint says so in its args.json and
    `--resume_from_checkpoint` refuses it (its adapter no longer fits the model being trained)."""

    def load_optimizer(self) -> Callable[..., Any]:
        if self.optimizer is None:
            raise ValueError(f"tuner {self.name!r} has no optimizer factory")
        return _resolve(self.optimizer)

    def load_checkpoint_converter(self) -> Callable[..., Any] | None:
        """The resolved `checkpoint_converter`, or None when checkpoints are kept as saved."""
        return None if self.checkpoint_converter is None else _resolve(self.checkpoint_converter)

    def load_adapter_loader(self) -> Callable[..., Any] | None:
        """The resolved `adapter_loader`, or None when peft loads this tuner's adapters."""
        return None if self.adapter_loader is None else _resolve(self.adapter_loader)


@dataclass(frozen=True, kw_only=True)
class RunnableSpec(ComponentSpec):
    """Something `tk run NAME` starts. Factory: `(run) -> object`.

    `groups` names the core argument groups it takes (see
    `tunekite.arguments.groups.CORE_GROUPS`); the common group is always included.
    """

    groups: tuple[str, ...] = ()
    defaults: tuple[tuple[str, Any], ...] = ()
    """Argument defaults of this runnable that differ from core's, as (name, value) pairs
    (`pt` trains every token: `(("loss_scale", "all"), ("use_chat_template", False))`);
    args.json, YAML and the command line still override them."""
    dispatch: str | None = None
    """Set on an alias that stands for one of several runnables of its kind: the name of
    an argument its `args` declare, whose value names the runnable to start (`rlhf` with
    `dispatch="rlhf_type"`: `tk run rlhf --rlhf_type dpo` starts the `dpo` trainer, with
    dpo's groups and help, and keeps `--rlhf_type` in its args.json)."""


class TrainerSpec(RunnableSpec):
    """A training recipe (sft, pt, dpo, grpo, ...)."""

    kind: ClassVar[str] = "trainers"


class TaskSpec(RunnableSpec):
    """A non-training task (infer, export, deploy, app, eval, ...)."""

    kind: ClassVar[str] = "tasks"


@dataclass(frozen=True, kw_only=True)
class EngineSpec(ComponentSpec):
    """An inference engine (`--infer_backend NAME`).

    Factory: `(model, tokenizer, template, engine_args, *, max_batch_size=1) -> Engine`:
    the loaded model (a `peft.PeftModel` when an adapter is applied), its tokenizer, the
    run's `Template`, the engine's own argument group (None when it declares none) and
    how many requests one generate call may hold. The engine follows
    `tunekite.engines.protocol.Engine`: `infer(list[ChatRequest]) -> list[ChatResponse]`
    and `stream(ChatRequest) -> Iterator[str]` of text deltas.

    `loads_model=True` is for engines that load the weights themselves (vLLM, LMDeploy):
    `tk run infer` then loads no model, and the factory gets the model's local Hugging Face
    folder (`tunekite.api.model_folder`) instead of a model, plus the run's `--adapters`
    and `--torch_dtype`: `(folder: Path, tokenizer, template, engine_args, *,
    max_batch_size, adapters: list[str], torch_dtype: str | None, seed: int) -> Engine`.
    With `--merge_lora true` the merged folder is passed and `adapters` is empty.
    """

    kind: ClassVar[str] = "engines"
    loads_model: bool = False


@dataclass(frozen=True, kw_only=True)
class RewardSpec(ComponentSpec):
    """A reward function. Factory: `(reward_args) -> callable(completions, **columns)`,
    which returns one float per completion (an outcome reward).

    `process=True` marks a process reward (a PRM): its callable returns, per completion, a
    list of floats, one score per reasoning step of that completion (how it splits steps is
    its own business). Consumers that need one number take the weakest step, `min`, as
    ms-swift does (`tk run sample --prm_model`); an outcome reward's float counts as a
    single step there. Trainers that pass completions to TRL (`--reward_funcs`) need
    outcome rewards.
    """

    kind: ClassVar[str] = "rewards"
    process: bool = False


class LossScaleSpec(ComponentSpec):
    """A per-token loss weighting strategy. Factory: `(loss_scale_args) -> LossScale`
    (see `tunekite.api.LossScale`: a callable from a rendered `Piece` to weighted text)."""

    kind: ClassVar[str] = "loss_scales"


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(ComponentSpec):
    """A named dataset (`--dataset NAME[:subset1/subset2|all][#N]`).

    Factory: `(subsets: tuple[str, ...], data_args: DataArguments) -> rows`, where
    `subsets` are the chosen ones (all of `subsets` when none or `all` is given) and
    `data_args` is core's `DataArguments` (e.g. `model_name` for self-cognition).
    `rows` is a `datasets.Dataset`, a `datasets.IterableDataset` or a list of dicts,
    in any row format `tunekite.data` recognises; core converts them to canonical
    conversations, then samples `#N` and splits.
    """

    kind: ClassVar[str] = "datasets"
    subsets: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ExporterSpec(ComponentSpec):
    """One step of `tk run export` (bnb, GGUF, Ollama, the hub, ...).

    Factory: `(exporter_args, run, source) -> Path`. `source` is what the previous step
    produced (the merged folder, a quantized folder, a .gguf file), or the `--model`'s
    Hugging Face folder for the first step; the step writes its output under
    `run.output_dir` and returns the path the next step receives. See
    `tunekite.hookspecs.tk_register_exporters`.

    - `quantizes`: selectable by export's `--quant_method NAME` (bnb, gptq, awq, fp8);
      the others are switched on by their own flag (`--to_gguf`, `--to_ollama`, `--push_to_hub`).
    """

    kind: ClassVar[str] = "exporters"
    quantizes: bool = False


class QuantizerSpec(ComponentSpec):
    """A way to quantize the model while it loads (`--quant_method NAME`, e.g. QLoRA's bnb).

    Factory: `(quantizer_args, run) -> dict`, the extra keyword arguments core's model
    loader passes to `from_pretrained` (e.g. `{"quantization_config":
    BitsAndBytesConfig(...), "device_map": ...}`); `quantizer_args` is the spec's own
    argument group (None without one), `run` the resolved `Run` (`run.quant_bits`,
    `run.torch_dtype`, ...). See `tunekite.hookspecs.tk_register_quantizers`.
    """

    kind: ClassVar[str] = "quantizers"


@dataclass(frozen=True, kw_only=True)
class ParallelismSpec(ComponentSpec):
    """An engine that shards training over processes (DeepSpeed ZeRO, FSDP), switched on
    by its own training argument (`--deepspeed`, `--fsdp`).

    Factory: `(parallelism_args, run) -> dict` of transformers `TrainingArguments` fields
    (`{"deepspeed": config}`). `before_model`: `(parallelism_args, run) -> None`, an import
    path or a callable run before the model loads (ZeRO-3's process group), or None. See
    `tunekite.hookspecs.tk_register_parallelisms`.
    """

    kind: ClassVar[str] = "parallelisms"
    before_model: str | Callable[..., Any] | None = None

    def load_before_model(self) -> Callable[..., Any] | None:
        """Resolve `before_model`, importing its module on first use (None when unset)."""
        return None if self.before_model is None else _resolve(self.before_model)


@dataclass(frozen=True, kw_only=True)
class EvaluatorSpec(ComponentSpec):
    """An evaluation backend for `tk run eval` (`--eval_backend NAME`: native, lm_eval, ...).

    Factory: `(evaluator_args, job) -> Iterable[DatasetResult]`, where `evaluator_args` is
    the spec's own argument group (None without one) and `job` a
    `tunekite.api.EvalJob`: the `--eval_dataset` values, `--eval_limit`, and `answer`,
    which gets replies through the run's engine or `--eval_url` server. It yields one
    `tunekite.api.DatasetResult` per dataset; core writes the predictions, scores and
    manifest and prints the table. A dataset it cannot score (unknown, offline) is an
    `ArgumentError` naming the dataset and the fix.
    """

    kind: ClassVar[str] = "evaluators"


SPEC_TYPES: dict[str, type[ComponentSpec]] = {
    spec.kind: spec
    for spec in (
        ModelSpec,
        TemplateSpec,
        TunerSpec,
        TrainerSpec,
        TaskSpec,
        EngineSpec,
        RewardSpec,
        LossScaleSpec,
        DatasetSpec,
        QuantizerSpec,
        ExporterSpec,
        ParallelismSpec,
        EvaluatorSpec,
    )
}
KINDS: tuple[str, ...] = tuple(SPEC_TYPES)
