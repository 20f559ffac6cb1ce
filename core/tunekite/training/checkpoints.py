"""Checkpoints that appear whole or not at all, for any transformers or TRL trainer, and
loading a checkpoint's weights alone. Light to import: transformers, safetensors and peft
load when a checkpoint is saved or read."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunekite.distributed import barrier, from_main
from tunekite.run_folder import STAGING, OutputError, describe_write_failure

TRAINER_STATE = "trainer_state.json"


class AtomicCheckpoints:
    """Mixin in front of a transformers `Trainer` subclass (`class T(AtomicCheckpoints,
    DPOTrainer)`): each checkpoint is saved into `<output>/.staging/checkpoint-N`, described
    by `describe_checkpoint(folder)`, then renamed into place and rotated, so resume never
    finds a half-written checkpoint after a kill. `describe_checkpoint` may be given to the
    constructor or set on the trainer afterwards."""

    describe_checkpoint: Callable[[Path], None] | None = None
    _staging_root: str | None = None

    def __init__(self, *args: Any, describe_checkpoint: Callable[[Path], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if describe_checkpoint is not None:
            self.describe_checkpoint = describe_checkpoint

    def _get_output_dir(self, trial: Any) -> str:
        return self._staging_root or super()._get_output_dir(trial)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:

        run_dir = Path(super()._get_output_dir(trial))
        save = super()._save_checkpoint

        def write(folder: Path) -> None:
            self._staging_root = str(folder.parent)  # the Trainer writes <root>/checkpoint-N
            try:
                save(model, trial)
            finally:
                self._staging_root = None
            self._record_best(run_dir, folder)

        def best() -> str | None:
            return self.state.best_model_checkpoint

        commit_checkpoint(
            run_dir,
            self.state.global_step,
            write,
            describe=self.describe_checkpoint,
            save_total_limit=self.args.save_total_limit,
            best=best,
            publish=self.args.should_save,
        )

    def _record_best(self, run_dir: Path, staged: Path) -> None:
        """The best checkpoint as its final path, also in the staged `trainer_state.json`:
        transformers saw the staging folder and would record a `.staging/` path."""
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        if not self.state.best_global_step:
            return
        best = f"{PREFIX_CHECKPOINT_DIR}-{self.state.best_global_step}"
        kept = best == staged.name or (run_dir / best).is_dir()
        self.state.best_model_checkpoint = str(run_dir / best) if kept else None
        if (staged / TRAINER_STATE).is_file():
            self.state.save_to_json(str(staged / TRAINER_STATE))


def commit_checkpoint(
    run_dir: Path,
    step: int,
    write: Callable[[Path], None],
    *,
    describe: Callable[[Path], None] | None = None,
    save_total_limit: int | None = None,
    best: Callable[[], str | None] | None = None,
    publish: bool = True,
) -> Path:
    """`<run_dir>/checkpoint-<step>`, whole or not at all, for any trainer: `write(folder)`
    fills `<run_dir>/.staging/checkpoint-<step>`, `describe(folder)` adds the run's
    self-description, then the folder is renamed into place and older checkpoints are
    rotated to `save_total_limit` (keeping `best()`, the best checkpoint's path, if any).
    `publish=False` (a rank that does not save) only writes. Under torchrun every rank
    calls this: the publishing rank clears the staged folder before any rank writes into
    it, and renames it only once every rank has written its part (barriers). A failed
    write leaves no staged folder behind and, where the cause is the disk or the folder,
    says so in one line (`OutputError`)."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if not run_dir.is_dir():  # never recreate a folder the user deleted, half empty
        raise OutputError(f"the output folder {run_dir} was deleted while the run was writing to it")
    name = f"{PREFIX_CHECKPOINT_DIR}-{step}"
    staging = run_dir / STAGING
    final = run_dir / name
    if publish:
        shutil.rmtree(staging / name, ignore_errors=True)
    barrier()
    try:
        (staging / name).mkdir(parents=True, exist_ok=True)
        write(staging / name)
        if publish and describe is not None:
            describe(staging / name)
    except Exception as exc:
        shutil.rmtree(staging / name, ignore_errors=True)
        with contextlib.suppress(OSError):
            staging.rmdir()
        message = describe_write_failure(exc, final)
        if message is None:
            raise
        raise OutputError(message) from None
    barrier()
    if publish:
        _publish(staging / name, final, run_dir, save_total_limit, best)
    barrier()
    return final


def _publish(
    staged: Path,
    final: Path,
    run_dir: Path,
    save_total_limit: int | None,
    best: Callable[[], str | None] | None,
) -> None:
    from transformers.trainer_utils import rotate_checkpoints

    staging = staged.parent
    if final.exists():
        shutil.rmtree(final)
    os.replace(staged, final)
    with contextlib.suppress(OSError):
        staging.rmdir()
    rotate_checkpoints(
        output_dir=str(run_dir),
        save_total_limit=save_total_limit,
        best_model_checkpoint=best() if best is not None else None,
        use_mtime=False,
    )


def load_weights(model: Any, checkpoint: Path) -> None:
    """A checkpoint's weights alone (its adapter, else its full model), not its optimizer or
    step: `--resume_only_model`, and trainers that keep their own state (PPO)."""
    from safetensors.torch import load_file

    from tunekite.errors import ArgumentError

    checkpoint = Path(checkpoint)
    if (checkpoint / "adapter_model.safetensors").exists():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(checkpoint / "adapter_model.safetensors"))
        return
    files = sorted(checkpoint.glob("model*.safetensors"))
    if not files:
        raise ArgumentError(f"--resume_from_checkpoint {checkpoint}: no model or adapter weights in it")
    state: dict[str, Any] = {}
    for file in files:
        state.update(load_file(file))
    missing, _ = model.load_state_dict(state, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    lost = [k for k in missing if k not in tied and "lm_head" not in k]
    if lost:
        raise ArgumentError(f"--resume_from_checkpoint {checkpoint}: weights missing for {lost[:3]} ...")


def train_resuming(trainer: Any, run: Any) -> Path:
    """`trainer.train()` from `--resume_from_checkpoint`: the whole state (step, optimizer,
    schedule), or with `--resume_only_model` the checkpoint's weights and a new schedule.
    The last step always gets a checkpoint; its folder is returned."""
    resume = run.resume_from_checkpoint
    if resume and run.resume_only_model:
        load_weights(trainer.model, Path(resume))
        resume = None
    trainer.train(resume_from_checkpoint=resume)
    last = Path(run.output_dir) / f"checkpoint-{trainer.state.global_step}"
    if not from_main(last.exists):  # every rank takes part in a save, so all decide alike
        trainer._save_checkpoint(trainer.model, trial=None)
    return last
