"""What a training run writes beside its checkpoints (manifest, logs, loss curve, links, each
checkpoint's self-description) and how every trainer finishes a run."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tunekite.arguments.parser import ADAPTER_CONVERTED, ARGS_FILE, META_KEY
from tunekite.arguments.secrets import redact_argv, redact_values, secret_fields
from tunekite.data.syntax import parse_dataset_syntax
from tunekite.distributed import is_main_process
from tunekite.run_folder import MANIFEST_FILE, write_json
from tunekite.training.checkpoints import train_resuming
from tunekite.training.interrupt import StopOnInterrupt
from tunekite.training.memory_log import PeakMemoryLog

LOG_FILE = "logging.jsonl"
LIBRARIES = ("torch", "transformers", "peft", "accelerate", "datasets", "trl", "tokenizers")


def write_manifest(run: Any, folder: Path, **extra: Any) -> Path:
    """Versions, git SHA, dataset hashes and the command (secrets hidden), so a run can be
    replayed; `extra` keys are a trainer's own (e.g. the rlhf plugin's `rlhf_type`).
    Under torchrun rank 0 alone writes it."""
    if not is_main_process():
        return folder / MANIFEST_FILE
    argv = redact_argv(sys.argv[1:], secret_fields(run.groups.values()))
    values = run.values()  # a trainer's data, or eval's `--eval_dataset`
    manifest = {
        "command": shlex.join([Path(sys.argv[0]).name, *argv]),
        "cwd": os.getcwd(),
        "git_sha": _git_sha(),
        "plugins": run.plugins,
        "libraries": {name: _version(name) for name in LIBRARIES},
        "datasets": _dataset_hashes(
            [*values.get("dataset", []), *values.get("val_dataset", []), *values.get("eval_dataset", [])]
        ),
        **extra,
    }
    return write_json(folder / MANIFEST_FILE, manifest)


def describe_checkpoint(run: Any, folder: Path, template: str, model_dtype: str, **extra: Any) -> None:
    """A checkpoint says what made it in its own `args.json`, the one file resume, infer and
    export read: the run's arguments with `template` resolved to the one it trained with,
    and under the `tunekite` key which trainer, dtype and tuner (the distribution and
    version that registered it) made it; `extra` keys are a trainer's own (a GRPO run's
    rewards, PPO's value head)."""
    source = run.output_dir / ARGS_FILE
    if source.exists():
        data = json.loads(source.read_text(encoding="utf-8"))
    else:
        data = redact_values(run.values(), secret_fields(run.groups.values()))
    if data.get("template") is None:
        data["template"] = template
    meta = data.setdefault(META_KEY, {})
    meta["checkpoint"] = {
        "trainer": run.spec.name,
        "torch_dtype": model_dtype,
        "template": template,
        "tuner": _tuner_origin(run),
        **extra,
    }
    write_json(folder / ARGS_FILE, data)


def _tuner_origin(run: Any) -> dict[str, Any]:
    """The selected tuner's name and the distribution (and version) that registered it."""
    tuner = run.component("tuners")
    entry = run.plugin_host.registry("tuners").entry(tuner.name)
    version = next((p.get("version") for p in run.plugins if p.get("name") == entry.plugin), None)
    return {"name": tuner.name, "distribution": entry.distribution, "version": version}


def checkpoint_description(folder: Path) -> dict[str, Any]:
    """What `describe_checkpoint` recorded about `folder` ({} for a checkpoint without it)."""
    file = Path(folder) / ARGS_FILE
    if not file.is_file():
        return {}
    return json.loads(file.read_text(encoding="utf-8")).get(META_KEY, {}).get("checkpoint", {})


def standard_callbacks(run: Any) -> list[Any]:
    """The callbacks every trainer installs: `memory(GiB)` on a GPU (`PeakMemoryLog`, before
    `logging.jsonl` so the file has it too), `logging.jsonl`, Ctrl-C saves and stops
    (`StopOnInterrupt`), plus every plugin's `tk_train_callbacks` contribution."""
    return [
        PeakMemoryLog(),
        JsonlLogger(run.output_dir / LOG_FILE),
        StopOnInterrupt(),
        *run.plugin_host.train_callbacks(run),
    ]


def checkpoint_describer(
    run: Any, template: str, model_dtype: Any, *, model: Any = None, **extra: Any
) -> Any:
    """`describe_checkpoint` bound to this run, for `AtomicCheckpoints` and
    `commit_checkpoint`: `describer(folder)`. Given the tuned `model`, the tuner's
    `checkpoint_converter` (if any) first rewrites the saved adapter for the original base,
    and the description records `adapter_converted` when it did."""
    dtype = str(model_dtype).removeprefix("torch.")
    describe = partial(describe_checkpoint, run, template=template, model_dtype=dtype, **extra)
    convert = run.component("tuners").load_checkpoint_converter() if model is not None else None
    if convert is None:
        return describe

    def convert_then_describe(folder: Path) -> None:
        describe(folder, **({ADAPTER_CONVERTED: True} if convert(model, folder) else {}))

    return convert_then_describe


def finish_run(
    run: Any, last: Path, log_history: list[dict[str, Any]], best: str | None = None, **extra: Any
) -> dict[str, Any]:
    """What every trainer does once training ends: the loss curve, the `last`/`best` links
    (`--create_checkpoint_symlink`), and the summary `tk run` returns (plus `extra`).
    Under torchrun rank 0 alone writes them; every rank returns the summary."""
    if is_main_process():
        plot_loss(log_history, run.output_dir)
        if run.create_checkpoint_symlink:
            link_checkpoints(run.output_dir, str(last), best)
        print(f"last checkpoint: {last}")
    return {"last_checkpoint": last, "best_checkpoint": best, "log_history": log_history, **extra}


def train_and_finish(trainer: Any, run: Any) -> dict[str, Any]:
    """A transformers (or TRL) trainer's whole run: train, resuming when asked, then
    `finish_run`; the summary also holds the trainer."""
    last = train_resuming(trainer, run)
    state = trainer.state
    return finish_run(run, last, state.log_history, state.best_model_checkpoint, trainer=trainer)


class JsonlLogger(TrainerCallback):
    """Appends every log (loss, learning rate, token accuracy, eval) to `logging.jsonl`.
    When training begins, records past the starting step are dropped: a run resumed from
    checkpoint-4 continues the file after step 4, and a fresh run starts it empty."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if not state.is_world_process_zero or not self.path.is_file():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if _step(line) <= state.global_step]
        if kept != lines:
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text("".join(kept), encoding="utf-8")
            os.replace(tmp, self.path)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any
    ) -> None:
        if logs is None or not state.is_world_process_zero:
            return
        record = {"step": state.global_step, "max_steps": state.max_steps, **logs}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, default=float) + "\n")


def _step(line: str) -> float:
    """A logging.jsonl line's step; a line that is not a record sorts after every step."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")


def plot_loss(log_history: list[dict[str, Any]], folder: Path) -> Path | None:
    """`images/train_loss.png` (and eval loss when there is one), as ms-swift draws it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {
        key: [(h["step"], h[key]) for h in log_history if key in h and "step" in h]
        for key in ("loss", "eval_loss")
    }
    if not series["loss"]:
        return None
    figure, axis = plt.subplots(figsize=(8, 4.5))
    for key, points in series.items():
        if points:
            axis.plot(*zip(*points, strict=True), label=key, marker="." if len(points) < 50 else None)
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.legend()
    axis.grid(alpha=0.3)
    target = folder / "images" / "train_loss.png"
    target.parent.mkdir(exist_ok=True)
    figure.savefig(target, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return target


def link_checkpoints(folder: Path, last: str | None, best: str | None) -> None:
    """`last` and `best` symlinks to checkpoints (`--create_checkpoint_symlink`)."""
    for name, target in (("last", last), ("best", best)):
        if not target:
            continue
        link = folder / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path(target).name, target_is_directory=True)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_sha() -> str | None:
    """The checkout's commit when tunekite runs from one (editable installs)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _dataset_hashes(values: list[str]) -> dict[str, str]:
    hashes = {}
    for value in values:
        path = Path(parse_dataset_syntax(value).name)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                digest = hashlib.sha256()
                with file.open("rb") as handle:
                    for block in iter(lambda h=handle: h.read(1 << 20), b""):
                        digest.update(block)
                hashes[str(file)] = digest.hexdigest()
    return hashes
