"""The sft/pt recipe.

Argument resolution, `args.json` and the output folder are in place; the training
loop itself (datasets, templates, model loading, the transformers Trainer) is not
built yet, and says so instead of pretending to train.
"""

from __future__ import annotations

from typing import Any

from tunekite.errors import TunekiteError


def run(run: Any) -> Any:
    raise TunekiteError(
        f"`tk run {run.command}` resolved its arguments and wrote {run.output_dir}/args.json, "
        "but the training recipe is not implemented in this version of tunekite yet."
    )
