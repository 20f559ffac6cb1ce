"""What every TRL-based recipe of this plugin shares: the TRL config from core's training
arguments, TuneKite's outputs (logging.jsonl, self-describing atomic checkpoints), the
reference model, and training with resume.

Mirrors core's sft recipe (`tunekite/training/hf_args.py`, `outputs.py`, `trainer.py`),
which plugins cannot import: a checkpoint is written under `<output>/.staging/` and
renamed into place once complete, with the run's `args.json` and a `tunekite.json`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

ARGS_FILE = "args.json"
CHECKPOINT_FILE = "tunekite.json"
LOG_FILE = "logging.jsonl"
MANIFEST_FILE = "run_manifest.json"
LIBRARIES = ("torch", "transformers", "peft", "accelerate", "datasets", "trl", "tokenizers")
STAGING = ".staging"
# Core training arguments that transformers' and TRL's configs must not get (as core's hf_args).
OURS = frozenset(
    {
        "loss_type",
        "acc_strategy",
        "create_checkpoint_symlink",
        "resume_from_checkpoint",
        "resume_only_model",
        "check_model",
        "padding_free",
        "remove_unused_columns",
        "predict_with_generate",
    }
)


def trl_config(config_class: type, run: Any, *, model_dtype: Any, has_eval: bool, **own: Any) -> Any:
    """`config_class` (a TRL config) from the run's training group, as core maps it onto
    transformers' arguments, plus the algorithm's `own` values; `use_cpu` without CUDA."""
    import torch

    training = run.groups["training"]
    accepted = {f.name for f in dataclasses.fields(config_class)}
    values = {k: v for k, v in dataclasses.asdict(training).items() if k in accepted and k not in OURS}
    for old, new in (
        ("gradient_checkpointing", "activation_checkpointing"),
        ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs"),
    ):
        if new in accepted and old in values:  # transformers 5 renamed them
            values[new] = values.pop(old)
    values.update(
        output_dir=str(run.output_dir),
        seed=run.seed,
        data_seed=run.data_seed,
        remove_unused_columns=False,  # the datasets hold exactly what the trainers read
        report_to=[] if training.report_to in (["none"], []) else list(training.report_to),
    )
    if "max_length" in accepted and run.max_length is not None:
        values["max_length"] = run.max_length
    if training.bf16 is None:
        values["bf16"] = model_dtype == torch.bfloat16
    if training.fp16 is None:
        values["fp16"] = model_dtype == torch.float16
    if has_eval:
        values["eval_strategy"] = training.eval_strategy or training.save_strategy
        values["eval_steps"] = training.eval_steps or training.save_steps
        values["metric_for_best_model"] = training.metric_for_best_model or "loss"
    else:
        values["eval_strategy"] = "no"
        values["load_best_model_at_end"] = False
    if not torch.cuda.is_available():
        values["use_cpu"] = True
    if values.get("max_steps", -1) > 0:
        values.pop("num_train_epochs", None)
    unknown = set(own) - accepted
    if unknown:
        raise TypeError(f"{config_class.__name__} has no field(s) {sorted(unknown)}")
    values.update(own)
    return config_class(**{k: v for k, v in values.items() if v is not None or k in ("bf16", "fp16")})


def tunekite_trainer(base: type) -> type:
    """`base` (a TRL trainer class) whose checkpoints appear whole or not at all and
    describe themselves (`describe(folder)` runs before the rename)."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

    class TunekiteTRLTrainer(base):
        describe: Any = None
        _staging_root: str | None = None

        def _get_output_dir(self, trial: Any) -> str:
            return self._staging_root or super()._get_output_dir(trial)

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            run_dir = Path(super()._get_output_dir(trial))
            name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            staging = run_dir / STAGING
            shutil.rmtree(staging / name, ignore_errors=True)
            staging.mkdir(parents=True, exist_ok=True)
            self._staging_root = str(staging)
            try:
                super()._save_checkpoint(model, trial)
            finally:
                self._staging_root = None
            if not self.args.should_save:
                return
            if self.describe is not None:
                self.describe(staging / name)
            final = run_dir / name
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging / name, final)
            with contextlib.suppress(OSError):
                staging.rmdir()  # only when empty: another rank may still be writing
            if self.state.best_global_step:
                best = run_dir / f"{PREFIX_CHECKPOINT_DIR}-{self.state.best_global_step}"
                self.state.best_model_checkpoint = str(best) if best.exists() else None
            rotate_checkpoints(
                output_dir=str(run_dir),
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=False,
            )

    TunekiteTRLTrainer.__name__ = TunekiteTRLTrainer.__qualname__ = f"Tunekite{base.__name__}"
    return TunekiteTRLTrainer


def describe_checkpoint(run: Any, folder: Path, *, template: str, model_dtype: str) -> None:
    """A checkpoint says what made it: the run's args.json, plus which algorithm, tuner,
    template and loss scale, from which plugins (infer, export and resume read it)."""
    source = run.output_dir / ARGS_FILE
    if source.exists():
        shutil.copyfile(source, folder / ARGS_FILE)
    tuner = run.component("tuners")
    tuner_args = run.component_args(tuner)
    described = {
        "model": run.model,
        "model_type": run.model_type,
        "task_type": run.task_type,
        "torch_dtype": model_dtype,
        "template": template,
        "loss_scale": run.loss_scale,
        "rlhf_type": run.rlhf_type,
        "tuner": {
            "name": tuner.name,
            "arguments": dataclasses.asdict(tuner_args) if tuner_args is not None else {},
        },
        "plugins": run.plugins,
    }
    tmp = folder / f".{CHECKPOINT_FILE}.tmp"
    tmp.write_text(json.dumps(described, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, folder / CHECKPOINT_FILE)


def write_manifest(run: Any) -> Path:
    """`run_manifest.json`: the command, plugins and library versions, so a run can be replayed."""
    import shlex
    import sys
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    manifest = {
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "cwd": os.getcwd(),
        "rlhf_type": run.rlhf_type,
        "plugins": run.plugins,
        "libraries": {name: version(name) for name in LIBRARIES},
        "datasets": [*run.dataset, *run.val_dataset],
    }
    path = run.output_dir / MANIFEST_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def callbacks(run: Any) -> list[Any]:
    """logging.jsonl plus every plugin's `tk_train_callbacks` contribution."""
    from tunekite.api import get_host

    return [JsonlLogger(run.output_dir / LOG_FILE), *get_host().train_callbacks(run)]


def train(trainer: Any, run: Any) -> dict[str, Any]:
    """Train (resuming the whole state, or only the weights with --resume_only_model), then
    make sure the last step has a checkpoint."""
    resume = run.resume_from_checkpoint
    if resume and run.resume_only_model:
        load_weights(trainer.model, Path(resume))
        resume = None
    trainer.train(resume_from_checkpoint=resume)
    last = run.output_dir / f"checkpoint-{trainer.state.global_step}"
    if not last.exists():
        trainer._save_checkpoint(trainer.model, trial=None)
    print(f"last checkpoint: {last}")
    return {
        "last_checkpoint": last,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "log_history": trainer.state.log_history,
        "trainer": trainer,
    }


def load_weights(model: Any, checkpoint: Path) -> None:
    """`--resume_only_model`: the checkpoint's weights, not its optimizer or step."""
    from safetensors.torch import load_file

    if (checkpoint / "adapter_model.safetensors").exists():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(checkpoint / "adapter_model.safetensors"))
        return
    files = sorted(checkpoint.glob("model*.safetensors"))
    if not files:
        raise FileNotFoundError(f"--resume_from_checkpoint {checkpoint}: no safetensors weights in it")
    state: dict[str, Any] = {}
    for file in files:
        state.update(load_file(file))
    model.load_state_dict(state, strict=False)


def load_reference(run: Any, model: Any) -> Any:
    """The frozen reference model of dpo and kto: None with an adapter tuner (TRL then
    disables the adapters: the base is the reference, no second copy); with full tuning
    `--ref_model`, else a second copy of `--model`. `--ref_model` also overrides an adapter."""
    from tunekite.api import load_model

    if run.ref_model is None and _is_peft(model):
        return None
    margs = run.groups["model"]
    if run.ref_model is not None:
        margs = dataclasses.replace(
            margs, model=run.ref_model, model_type=run.ref_model_type, model_revision=run.ref_model_revision
        )
    ref, _ = load_model(margs, max_length=run.max_length)
    ref.eval()
    ref.requires_grad_(False)
    return ref


def _is_peft(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is a dependency
        return False
    return isinstance(model, PeftModel)


def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class JsonlLogger(_callback_base()):
    """Appends every log (loss, rewards/margins, accuracies, eval) to `logging.jsonl`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **_: Any) -> None:
        if logs is None or not state.is_world_process_zero:
            return
        record = {"step": state.global_step, "max_steps": state.max_steps, **logs}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, default=float) + "\n")
