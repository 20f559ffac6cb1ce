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

_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]*")
_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


@dataclass(frozen=True, kw_only=True)
class ComponentSpec:
    """What every registered component has: a name, a summary, arguments, a factory."""

    kind: ClassVar[str] = ""

    name: str
    summary: str
    factory: str | Callable[..., Any]
    args: type | None = None
    aliases: tuple[str, ...] = ()

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
        if callable(self.factory):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
        return target

    def default_args(self) -> Any:
        """The component's argument dataclass filled with its defaults (None without one)."""
        return self.args() if self.args is not None else None


@dataclass(frozen=True, kw_only=True)
class ModelSpec(ComponentSpec):
    """A model loader or a named model. Factory: `(run) -> (model, tokenizer)`."""

    kind: ClassVar[str] = "models"
    template: str | None = None


class TemplateSpec(ComponentSpec):
    """A chat template family. Factory: `(tokenizer, args) -> Template`."""

    kind: ClassVar[str] = "templates"


@dataclass(frozen=True, kw_only=True)
class TunerSpec(ComponentSpec):
    """A way to adapt a model. Factory: `(model, tuner_args, common) -> model`, where
    `common` is core's `TunerArguments` (target_modules, target_regex, modules_to_save).

    `learning_rate` is the default the trainer uses when `--learning_rate` is unset
    (ms-swift: 1e-4 for tuners, 1e-5 for full fine-tuning).
    """

    kind: ClassVar[str] = "tuners"
    learning_rate: float = 1e-4


@dataclass(frozen=True, kw_only=True)
class RunnableSpec(ComponentSpec):
    """Something `tk run NAME` starts. Factory: `(run) -> object`.

    `groups` names the core argument groups it takes (see
    `tunekite.arguments.groups.CORE_GROUPS`); the run group is always included.
    """

    groups: tuple[str, ...] = ()


class TrainerSpec(RunnableSpec):
    """A training recipe (sft, pt, rlhf, ...)."""

    kind: ClassVar[str] = "trainers"


class TaskSpec(RunnableSpec):
    """A non-training task (infer, export, deploy, app, eval, ...)."""

    kind: ClassVar[str] = "tasks"


class EngineSpec(ComponentSpec):
    """An inference engine. Factory: `(model_or_path, engine_args, run) -> Engine`."""

    kind: ClassVar[str] = "engines"


class RewardSpec(ComponentSpec):
    """A reward function. Factory: `(reward_args) -> callable(completions, **columns)`."""

    kind: ClassVar[str] = "rewards"


class LossScaleSpec(ComponentSpec):
    """A per-token loss weighting strategy. Factory: `(loss_scale_args) -> LossScale`."""

    kind: ClassVar[str] = "loss_scales"


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(ComponentSpec):
    """A named dataset. Factory: `(dataset_args, run) -> datasets.Dataset`."""

    kind: ClassVar[str] = "datasets"
    subsets: tuple[str, ...] = ()


class ExporterSpec(ComponentSpec):
    """A model exporter (GPTQ, AWQ, GGUF, ...). Factory: `(run) -> output path`."""

    kind: ClassVar[str] = "exporters"


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
        ExporterSpec,
    )
}
KINDS: tuple[str, ...] = tuple(SPEC_TYPES)
