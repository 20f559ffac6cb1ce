"""DPO, ORPO, SimPO, CPO and KTO, top to bottom: model, template, data, tuner, reference
model, TRL's trainer, outputs.

- dpo: `trl.DPOTrainer`; beta, label_smoothing, rpo_alpha (an added `sft` loss),
  --loss_type (sigmoid, ipo, hinge, ...).
- kto: `trl.KTOTrainer`; beta, desirable_weight, undesirable_weight, --loss_type (kto,
  apo_zero_unpaired).
- cpo: `trl.experimental.cpo.CPOTrainer`; beta, label_smoothing, cpo_alpha, --loss_type
  (sigmoid, hinge, ipo).
- simpo: `CPOTrainer` with `loss_type="simpo"` (as TRL and ms-swift do); beta (default
  2.0), simpo_gamma, cpo_alpha.
- orpo: `trl.experimental.orpo.ORPOTrainer`; beta (ORPO's lambda).

Data: prompts and replies rendered with the run's template (`data.py`), tokenized here;
the trainers' own dataset preparation is replaced so TRL adds no BOS/EOS of its own.
dpo and kto have a reference model: with an adapter tuner (LoRA, ...) it is the base
model with the adapters disabled, no second copy; with full tuning a frozen copy of
`--model`, or `--ref_model`.
"""

from __future__ import annotations

from typing import Any

from tunekite.api import DEFAULT_ADAPTER, IGNORE_INDEX, ArgumentError

DEFAULT_LOSS = {"dpo": "sigmoid", "kto": "kto", "cpo": "sigmoid", "simpo": "simpo"}
WITH_REFERENCE = ("dpo", "kto")


def train(run: Any) -> dict[str, Any]:
    from transformers import set_seed

    from tunekite.api import (
        apply_tuner,
        checkpoint_describer,
        load_policy,
        standard_callbacks,
        train_and_finish,
        write_manifest,
    )
    from tunekite_rlhf import data
    from tunekite_rlhf.reference import load_reference

    kind = run.spec.name
    check_arguments(run)
    set_seed(run.seed)
    write_manifest(run, run.output_dir, trainer=kind)

    # 1. The policy: model, tokenizer and the template that renders prompts and replies.
    policy = load_policy(run)

    # 2. The data: TRL's text rows, then ids.
    train_set, val_set = data.load_rows(run, policy.template)
    tokenize = data.tokenize_unpaired if kind == "kto" else data.tokenize_pairs
    train_set = tokenize(train_set, policy.tokenizer)
    val_set = None if val_set is None else tokenize(val_set, policy.tokenizer)

    # 3. The tuner (LoRA, full, ...).
    model = apply_tuner(run, policy)

    # 4. The reference model (dpo, kto): None with adapters (the base, adapters disabled).
    ref_model = load_reference(run, model) if kind in WITH_REFERENCE else None

    # 5. TRL's trainer with our data preparation, outputs and atomic checkpoints.
    config = trl_config(run, model_dtype=policy.dtype, has_eval=val_set is not None)
    trainer_class = tunekite_trainer(_with_our_data(_trl_trainer(kind)))
    extra = {"ref_model": ref_model} if kind in WITH_REFERENCE else {}
    trainer = trainer_class(
        model=model,
        args=config,
        train_dataset=train_set,
        eval_dataset=val_set,
        processing_class=policy.tokenizer,
        callbacks=standard_callbacks(run),
        describe_checkpoint=checkpoint_describer(run, policy.template.name, policy.dtype),
        **extra,
    )
    if kind in WITH_REFERENCE and ref_model is None and not run.adapters:
        _base_as_reference(trainer.model)

    # 6. Train (resuming when asked), then the loss curve, links and summary.
    return train_and_finish(trainer, run)


def tunekite_trainer(base: type) -> type:
    """`base` (a TRL trainer class) with core's atomic, self-describing checkpoints."""
    from tunekite.api import AtomicCheckpoints

    return type(f"Tunekite{base.__name__}", (AtomicCheckpoints, base), {})


def check_arguments(run: Any) -> None:
    """Refuse what these algorithms cannot do, before anything loads."""
    kind = run.spec.name
    if run.task_type != "causal_lm":
        raise ArgumentError(f"{kind} trains a causal LM: drop --task_type {run.task_type}")
    if kind == "kto" and (run.loss_type or "kto") == "kto" and run.per_device_train_batch_size < 2:
        raise ArgumentError(
            "kto estimates its KL term from mismatched pairs within a batch: "
            "--per_device_train_batch_size must be at least 2"
        )
    if kind == "simpo" and run.loss_type not in (None, "simpo"):
        raise ArgumentError(f"simpo is CPO with loss_type simpo; drop --loss_type {run.loss_type}")


def trl_config(run: Any, *, model_dtype: Any, has_eval: bool) -> Any:
    """The algorithm's TRL config: core's training arguments plus its coefficients."""
    from tunekite.api import training_config

    def base_config(config_class: type, **own: Any) -> Any:
        return training_config(
            config_class, run, run.output_dir, has_eval=has_eval, model_dtype=model_dtype, **own
        )

    kind, args = run.spec.name, run.component_args(run.spec)
    beta = args.beta
    loss = run.loss_type or DEFAULT_LOSS.get(kind)
    if kind == "dpo":
        from trl import DPOConfig

        own: dict[str, Any] = {"beta": beta, "label_smoothing": args.label_smoothing}
        losses = [t.strip() for t in loss.replace(",", " ").split()]
        if args.rpo_alpha and "sft" not in losses:  # RPO: DPO + rpo_alpha x the chosen replies' NLL
            own.update(loss_type=[*losses, "sft"], loss_weights=[*[1.0] * len(losses), args.rpo_alpha])
        else:
            own["loss_type"] = losses
        return base_config(DPOConfig, **own)
    if kind == "kto":
        from trl import KTOConfig

        own = {
            "beta": beta,
            "loss_type": loss,
            "desirable_weight": args.desirable_weight,
            "undesirable_weight": args.undesirable_weight,
        }
        return base_config(KTOConfig, **own)
    if kind in ("cpo", "simpo"):
        from trl.experimental.cpo import CPOConfig

        own = {
            "beta": beta,
            "loss_type": loss,
            "cpo_alpha": args.cpo_alpha,
            "label_smoothing": args.label_smoothing,
        }
        if kind == "simpo":
            own["simpo_gamma"] = args.simpo_gamma
        return base_config(CPOConfig, **own)
    if kind == "orpo":
        from trl.experimental.orpo import ORPOConfig

        return base_config(ORPOConfig, beta=beta)
    raise ArgumentError(f"trainer {kind!r} is not a preference algorithm")


def _trl_trainer(kind: str) -> type:
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # ORPO and CPO live in trl.experimental
    if kind == "dpo":
        from trl import DPOTrainer

        return DPOTrainer
    if kind == "kto":
        from trl import KTOTrainer

        return KTOTrainer
    if kind in ("cpo", "simpo"):
        from trl.experimental.cpo import CPOTrainer

        return CPOTrainer
    from trl.experimental.orpo import ORPOTrainer

    return ORPOTrainer


def _with_our_data(base: type) -> type:
    """`base` reading the ids `data.py` made instead of tokenizing text itself."""

    class OurData(base):
        def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
            """DPO and KTO: the ids are there; drop rows whose prompt alone fills max_length
            (as TRL does), and for KTO add the mismatched completions of its KL term."""
            text = [c for c in ("prompt", "chosen", "rejected", "completion") if c in dataset.column_names]
            dataset = dataset.remove_columns(text)
            if args.max_length is not None:
                dataset = dataset.filter(lambda r: len(r["prompt_ids"]) < args.max_length)
            if getattr(self, "calculate_KL", False):

                def add_kl(rows: dict[str, list]) -> dict[str, list]:
                    rows["KL_completion_ids"] = [rows["completion_ids"][-1], *rows["completion_ids"][:-1]]
                    return rows

                dataset = dataset.map(add_kl, batched=True, batch_size=args.per_device_train_batch_size)
            return dataset

        def tokenize_row(self, feature: dict[str, Any], model: Any = None) -> dict[str, Any]:
            """CPO and ORPO: prompt + reply ids with labels on the reply, the reply cut
            where prompt + reply exceeds max_length."""
            prompt = list(feature["prompt_ids"])
            row: dict[str, Any] = {"prompt_input_ids": prompt, "prompt_attention_mask": [1] * len(prompt)}
            for side in ("chosen", "rejected"):
                reply = list(feature[f"{side}_ids"])
                if self.max_length is not None:
                    reply = reply[: max(0, self.max_length - len(prompt))]
                ids = prompt + reply
                row[f"{side}_input_ids"] = ids
                row[f"{side}_attention_mask"] = [1] * len(ids)
                row[f"{side}_labels"] = [IGNORE_INDEX] * len(prompt) + reply
            return row

    OurData.__name__ = OurData.__qualname__ = base.__name__
    return OurData


def _base_as_reference(model: Any) -> None:
    """TRL 1.16 copies a PeftModel's adapter into a frozen `ref` adapter to be the reference;
    for a fresh adapter that equals the base, so drop the copy: TRL then disables the
    adapters for the reference pass (ms-swift's behaviour), and checkpoints hold one adapter."""
    peft_config = getattr(model, "peft_config", None)
    if peft_config and "ref" in peft_config:
        model.delete_adapter("ref")
        model.set_adapter(DEFAULT_ADAPTER)
