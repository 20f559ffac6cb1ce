"""transformers' Trainer with TuneKite's loss: per-token weights, token accuracy, and
checkpoints that appear whole or not at all."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from transformers import Seq2SeqTrainer

from tunekite.constants import IGNORE_INDEX
from tunekite.errors import ArgumentError
from tunekite.training.checkpoints import AtomicCheckpoints
from tunekite.training.chunked_loss import fusable_head, hidden_states_as_logits, linear_cross_entropy
from tunekite.training.recompute import recomputing
from tunekite.training.row_chunks import row_chunks


class TunekiteTrainer(AtomicCheckpoints, Seq2SeqTrainer):
    """Cross-entropy weighted by the template's `loss_scale`, averaged over trained tokens
    of the whole accumulated batch; checkpoints are atomic (`AtomicCheckpoints`).

    `describe_checkpoint(folder)` adds the run's self-description to each checkpoint
    before it becomes visible; `make_optimizer(model)` may supply the tuner's optimizer;
    `generation_metrics(model) -> {name: value}` adds scores of generated replies to every
    evaluation (`--predict_with_generate`), and `dataset_metrics(model, step)` the
    `--eval_dataset` scores, logged and usable as `metric_for_best_model`. With
    `eval_dataset=[]` (no validation data: ms-swift's way past transformers' check that an
    evaluation strategy has an eval dataset) an evaluation logs only those scores.
    """

    loss_is_scaled_for_ga = True

    def __init__(
        self,
        *args: Any,
        acc_strategy: str = "token",
        describe_checkpoint: Callable[[Path], None] | None = None,
        make_optimizer: Callable[[Any], Any] | None = None,
        generation_metrics: Callable[[Any], dict[str, float]] | None = None,
        dataset_metrics: Callable[[Any, int], dict[str, float]] | None = None,
        chunk_tokens: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, describe_checkpoint=describe_checkpoint, **kwargs)
        self.model_accepts_loss_kwargs = True  # so the trainer counts trained tokens per accumulated batch
        self.acc_strategy = acc_strategy
        self.make_optimizer = make_optimizer
        self.generation_metrics = generation_metrics
        self.dataset_metrics = dataset_metrics
        self.chunk_tokens = chunk_tokens
        if chunk_tokens is not None and (self.is_deepspeed_enabled or self.is_fsdp_enabled):
            raise ArgumentError(
                "--padding_free_chunk_tokens: DeepSpeed and FSDP run their own backward; leave it out there"
            )
        self._accuracy = [0.0, 0.0]  # correct, total since the last log

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
    ) -> Any:
        """Without validation data, only the generated scores, logged as an evaluation."""
        if eval_dataset is None and isinstance(self.eval_dataset, list) and not self.eval_dataset:
            metrics = self._generated_scores(metric_key_prefix)
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics
        return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)

    def evaluation_loop(self, *args: Any, metric_key_prefix: str = "eval", **kwargs: Any) -> Any:
        """The loss evaluation, plus the generated replies' scores under the same prefix."""
        output = super().evaluation_loop(*args, metric_key_prefix=metric_key_prefix, **kwargs)
        output.metrics.update(self._generated_scores(metric_key_prefix))
        return output

    def _generated_scores(self, prefix: str) -> dict[str, float]:
        scores = self.generation_metrics(self.model) if self.generation_metrics is not None else {}
        if self.dataset_metrics is not None:
            scores.update(self.dataset_metrics(self.model, self.state.global_step))
        return {f"{prefix}_{name}": value for name, value in scores.items()}

    def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
        """With `chunk_tokens`, a padding-free row goes through forward and backward a few
        samples at a time (`row_chunks`), each chunk's loss over the whole batch's trained
        tokens, gradients synchronized across processes only after the last chunk."""
        chunks = row_chunks(inputs, self.chunk_tokens) if self.chunk_tokens is not None else None
        if chunks is None:
            return super().training_step(model, inputs, num_items_in_batch)
        if num_items_in_batch is None:
            trained = (inputs["labels"][:, 1:] != IGNORE_INDEX).sum()
            num_items_in_batch = trained * getattr(self, "current_gradient_accumulation_steps", 1)
        loss = 0
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            with nullcontext() if last else self.accelerator.no_sync(model):
                loss = loss + super().training_step(model, chunk, num_items_in_batch)
        return loss

    # Loss -------------------------------------------------------------------------

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        """Weighted cross-entropy over the tokens that have labels. In training, logits are
        computed only at the positions where some row's label follows (`logits_to_keep` as
        a 1-D tensor of positions, which every transformers 5 model accepts; a 2-D mask
        fails before 5.23): the vocabulary projection of prompt tokens is work whose
        result the loss never reads. There the model returns hidden states and the loss
        projects them a chunk at a time (`chunked_loss`), so the logits of all trained
        tokens, their float copy and their gradient are never held at once."""
        labels = inputs.pop("labels")
        scale = inputs.pop("loss_scale", None)
        target = torch.full_like(labels, IGNORE_INDEX)
        target[:, :-1] = labels[:, 1:]  # position t predicts token t + 1
        trained = target != IGNORE_INDEX
        virtual = _virtual_tokens(self.model)
        if self.model.training and not virtual and self._keeps_logits(model):
            head = self._chunked_head(model)
            columns = trained.any(0).nonzero().squeeze(-1)
            with hidden_states_as_logits(head) if head is not None else nullcontext(), self._recomputing():
                outputs = model(**inputs, logits_to_keep=columns)
            kept = trained[:, columns]
            logits, target = outputs.logits[kept], target[:, columns][kept]
            if scale is not None:  # scale[t + 1] weighs the token that position t predicts
                weights = torch.nn.functional.pad(scale[:, 1:], (0, 1))[:, columns][kept]
            else:
                weights = None
        else:
            with self._recomputing():
                head, outputs = None, model(**inputs)
            logits = outputs.logits[:, virtual:]  # prompt/P-tuning put their virtual tokens first
            logits, target = logits.reshape(-1, logits.size(-1)), target.reshape(-1)
            weights = torch.nn.functional.pad(scale[:, 1:], (0, 1)).reshape(-1) if scale is not None else None
        if head is not None:  # `logits` are the final hidden states: never all the logits at once
            losses, predicted = linear_cross_entropy(logits, head, target)
            outputs.logits = None
        else:
            losses = torch.nn.functional.cross_entropy(
                logits.float(), target, ignore_index=IGNORE_INDEX, reduction="none"
            )
            predicted = logits.detach().argmax(-1)
        if weights is not None:
            losses = losses * weights.to(losses.dtype)
        if num_items_in_batch is None:
            steps = getattr(self, "current_gradient_accumulation_steps", 1)
            accumulated = steps if self.model.training else 1
            num_items_in_batch = trained.sum() * accumulated
        loss = losses.sum() / torch.as_tensor(num_items_in_batch, device=losses.device).clamp(min=1)
        if self.args.average_tokens_across_devices and self.model.training:
            loss = loss * self.accelerator.num_processes
        if self.model.training:
            right = torch.zeros_like(trained)
            right[trained] = (predicted == target)[target != IGNORE_INDEX]
            self._count_accuracy(right, trained)
        outputs.loss = loss
        return (loss, outputs) if return_outputs else loss

    def _recomputing(self) -> Any:
        """Training forwards keep norm outputs and gated products as recipes (`recompute`);
        not under gradient checkpointing, which recomputes everything anyway, DeepSpeed and
        FSDP, which gather a module's sharded weights around its forward and not around a
        second call in backward, or torch.compile, which would trace the hooks."""
        sharded = self.is_fsdp_enabled or self.is_deepspeed_enabled
        plain = not (self.args.gradient_checkpointing or sharded or self.args.torch_compile)
        return recomputing() if self.model.training and plain else nullcontext()

    def _chunked_head(self, model: Any) -> Any:
        """The vocabulary projection the chunked loss computes through (`chunked_loss`), found
        once; None where the model does not qualify or it is sharded (FSDP, DeepSpeed)."""
        if not hasattr(self, "_head"):
            sharded = self.is_fsdp_enabled or self.is_deepspeed_enabled
            self._head = None if sharded else fusable_head(self.accelerator.unwrap_model(model))
        return self._head

    def _keeps_logits(self, model: Any) -> bool:
        base = self.accelerator.unwrap_model(model)
        base = base.get_base_model() if hasattr(base, "get_base_model") else base
        return "logits_to_keep" in inspect.signature(base.forward).parameters

    def _count_accuracy(self, right: Any, trained: Any) -> None:
        """`right` and `trained` are (batch, length) masks; `seq` counts rows whose every
        trained token is right, `token` counts tokens."""
        if self.acc_strategy == "seq":
            rows = trained.any(-1)
            self._accuracy[0] += ((right | ~trained).all(-1) & rows).sum().item()
            self._accuracy[1] += rows.sum().item()
        else:
            self._accuracy[0] += (right & trained).sum().item()
            self._accuracy[1] += trained.sum().item()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._accuracy[1]:
            logs["token_acc" if self.acc_strategy == "token" else "seq_acc"] = round(
                self._accuracy[0] / self._accuracy[1], 4
            )
            self._accuracy = [0.0, 0.0]
        super().log(logs, start_time)

    # Optimizer ----------------------------------------------------------------------

    def create_optimizer(self, *args: Any, **kwargs: Any) -> Any:
        if self.optimizer is None and self.make_optimizer is not None:
            self.optimizer = self.make_optimizer(self.model)
        return super().create_optimizer(*args, **kwargs)


def _virtual_tokens(model: Any) -> int:
    """How many learned tokens a prompt-tuning or P-tuning adapter puts before the input (its
    logits come first too); 0 for every other model, prefix tuning included."""
    config = getattr(model, "active_peft_config", None)
    if config is None or str(getattr(config.peft_type, "value", "")) not in ("PROMPT_TUNING", "P_TUNING"):
        return 0
    return config.num_virtual_tokens
