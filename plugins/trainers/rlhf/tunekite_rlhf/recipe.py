"""`tk run rlhf`: dispatch `--rlhf_type` to the module that trains it (`<module>:train(run)`).

dpo, orpo, simpo, kto and cpo share `preference.py`; rm is `reward_model.py`; grpo and ppo
have their own modules.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from tunekite.api import ArgumentError

MODULES = {
    "dpo": "tunekite_rlhf.preference",
    "orpo": "tunekite_rlhf.preference",
    "simpo": "tunekite_rlhf.preference",
    "kto": "tunekite_rlhf.preference",
    "cpo": "tunekite_rlhf.preference",
    "rm": "tunekite_rlhf.reward_model",
    "grpo": "tunekite_rlhf.grpo",
    "ppo": "tunekite_rlhf.ppo",
}


def trainer_module(rlhf_type: str) -> Any:
    """The module that trains `rlhf_type`; a clear error when this installation lacks it."""
    name = MODULES.get(rlhf_type)
    if name is None:
        raise ArgumentError(f"--rlhf_type {rlhf_type!r} is not one of {', '.join(MODULES)}")
    if importlib.util.find_spec(name) is None:
        raise ArgumentError(
            f"--rlhf_type {rlhf_type}: this tunekite-rlhf installation has no {name} module yet, so "
            f"{rlhf_type} cannot be trained; upgrade tunekite-rlhf or pick another --rlhf_type"
        )
    return importlib.import_module(name)


def run(run: Any) -> Any:
    return trainer_module(run.rlhf_type).train(run)
