"""The public API for plugins: everything a plugin may import from core.

Plugin modules import this while `tk --help` starts, so the names that pull in the
argument groups and the run machinery are loaded on first access.
"""

from typing import TYPE_CHECKING, Any

from tunekite import __version__, hookimpl
from tunekite.arguments.fields import arg
from tunekite.errors import (
    ArgumentError,
    DuplicateNameError,
    PluginError,
    TunekiteError,
    UnknownNameError,
)
from tunekite.specs import (
    ComponentSpec,
    DatasetSpec,
    EngineSpec,
    ExporterSpec,
    LossScaleSpec,
    ModelSpec,
    RewardSpec,
    TaskSpec,
    TemplateSpec,
    TrainerSpec,
    TunerSpec,
)

if TYPE_CHECKING:
    from tunekite.arguments.groups import TunerArguments
    from tunekite.plugins import PluginHost, get_host, registry
    from tunekite.run import Run

__all__ = [
    "ArgumentError",
    "ComponentSpec",
    "DatasetSpec",
    "DuplicateNameError",
    "EngineSpec",
    "ExporterSpec",
    "LossScaleSpec",
    "ModelSpec",
    "PluginError",
    "PluginHost",
    "RewardSpec",
    "Run",
    "TaskSpec",
    "TemplateSpec",
    "TrainerSpec",
    "TunekiteError",
    "TunerArguments",
    "TunerSpec",
    "UnknownNameError",
    "__version__",
    "arg",
    "get_host",
    "hookimpl",
    "registry",
]

_LAZY = {
    "PluginHost": "tunekite.plugins",
    "Run": "tunekite.run",
    "TunerArguments": "tunekite.arguments.groups",
    "get_host": "tunekite.plugins",
    "registry": "tunekite.plugins",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunekite.api' has no attribute {name!r}")
