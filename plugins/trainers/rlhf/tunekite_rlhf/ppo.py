"""PPO, top to bottom: model + value head, reference, rewards, prompts, then the loop.

TRL 1.16 has no PPO trainer, so the algorithm is ours, in the shape of TRL's former
`PPOTrainer` (the "N implementation details of RLHF with PPO" design), built from TRL's
`selective_log_softmax` / `disable_dropout_in_model` and transformers' `generate` and
schedulers. One PPO step:

1. sample `batch` prompts (rendered by our template) and generate responses;
2. score them (`--reward_funcs` plugins and/or a `--reward_model`), with
   `missing_eos_penalty` off the score of a response that never ended;
3. per-token rewards: `-kl_coef * (logp - ref_logp)`, the score added at the last token,
   optionally whitened; GAE (`gamma`, `lam`) gives advantages (whitened) and returns;
4. `num_ppo_epochs` x `num_mini_batches` optimizer steps (`--optim`, built by
   transformers' optimizer factory) on the clipped policy loss (`cliprange`) plus
   `vf_coef` x the clipped value loss (`cliprange_value`).

The value head is a linear layer on the policy's last hidden state, trained with the
adapters (LoRA) or the whole model (full). The reference policy is the same model with
its adapters disabled (LoRA), or a frozen copy / `--ref_model` (full tuning).

Each step appends one record to `logging.jsonl`; checkpoints (`checkpoint-N`: adapter or
model, `value_head.safetensors`, optimizer and scheduler state, `trainer_state.json`,
`args.json`) are committed by core's `commit_checkpoint` (staged, renamed into place,
rotated). PPO does not evaluate: `--val_dataset` is refused.
Sampling and shuffling are seeded from `seed + step`, so a resumed run repeats the
curve of an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError
from tunekite_rlhf.rewards import build_rewards

LOG_FILE = "logging.jsonl"
SAMPLES_FILE = "samples.jsonl"
STATE_FILE = "trainer_state.json"
VALUE_HEAD_FILE = "value_head.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"


# --------------------------------------------------------------------------------------
# The math: pure functions of tensors (batch, response_length); `mask` marks real tokens.
# --------------------------------------------------------------------------------------


def masked_mean(values: Any, mask: Any | None = None, dim: int | None = None) -> Any:
    """Mean over the positions where `mask` is true (all positions without a mask)."""
    if mask is None:
        return values.mean() if dim is None else values.mean(dim)
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: Any, mask: Any | None = None, unbiased: bool = True) -> Any:
    """Variance over the masked positions, Bessel-corrected when `unbiased`."""
    mean = masked_mean(values, mask)
    centered = (values - mean) ** 2
    if mask is None:
        count = values.numel()
        var = centered.mean()
    else:
        count = int(mask.sum())
        var = masked_mean(centered, mask)
    if unbiased and count > 1:
        var = var * count / (count - 1)
    return var


def whiten(values: Any, mask: Any | None = None, shift_mean: bool = True, eps: float = 1e-8) -> Any:
    """(x - mean) / std over the masked positions; `shift_mean=False` keeps the mean."""
    import torch

    mean, var = masked_mean(values, mask), masked_var(values, mask)
    out = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out


def kl_penalty(logprobs: Any, ref_logprobs: Any, kl_coef: float) -> Any:
    """The per-token reward that keeps the policy near the reference: -kl_coef * (logp - ref_logp)."""
    return -kl_coef * (logprobs - ref_logprobs)


def token_rewards(scores: Any, penalty: Any, lengths: Any) -> Any:
    """The per-token KL penalty with each sequence's score added at its last real token
    (`lengths[i] - 1`; a zero-length response gets it at position 0)."""
    import torch

    rewards = penalty.clone()
    last = (lengths - 1).clamp(min=0)
    rewards[torch.arange(rewards.size(0), device=rewards.device), last] += scores.to(rewards.dtype)
    return rewards


def gae(rewards: Any, values: Any, gamma: float, lam: float, mask: Any | None = None) -> tuple[Any, Any]:
    """Generalised advantage estimation, right to left:
    delta_t = r_t + gamma * V_{t+1} - V_t, A_t = delta_t + gamma * lam * A_{t+1}; returns = A + V.
    Positions outside `mask` count as terminal (V = 0 beyond the last real token)."""
    import torch

    if mask is not None:
        rewards, values = rewards * mask, values * mask
    length = rewards.size(-1)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[..., 0])
    for t in reversed(range(length)):
        next_value = values[..., t + 1] if t + 1 < length else torch.zeros_like(running)
        delta = rewards[..., t] + gamma * next_value - values[..., t]
        running = delta + gamma * lam * running
        advantages[..., t] = running
    returns = advantages + values
    if mask is not None:
        advantages, returns = advantages * mask, returns * mask
    return advantages, returns


def clipped_policy_loss(
    logprobs: Any, old_logprobs: Any, advantages: Any, cliprange: float, mask: Any | None = None
) -> tuple[Any, dict[str, Any]]:
    """PPO's clipped surrogate: mean of max(-A * r, -A * clip(r, 1 - c, 1 + c)), r = exp(logp - old).
    Stats: `clipfrac` (share of tokens where the clipped term wins), `approxkl`
    (0.5 * mean (logp - old)^2) and `ratio` (mean r), all detached."""
    import torch

    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {
            "clipfrac": masked_mean((clipped > unclipped).to(clipped.dtype), mask),
            "approxkl": 0.5 * masked_mean(log_ratio**2, mask),
            "ratio": masked_mean(ratio, mask),
        }
    return loss, stats


def clipped_value_loss(
    values: Any, old_values: Any, returns: Any, cliprange_value: float, mask: Any | None = None
) -> tuple[Any, Any]:
    """0.5 * mean of max((V - R)^2, (clip(V, V_old - c, V_old + c) - R)^2); also the share
    of tokens where the clipped term wins."""
    import torch

    clipped_values = torch.clamp(values, old_values - cliprange_value, old_values + cliprange_value)
    unclipped, clipped = (values - returns) ** 2, (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(unclipped, clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((clipped > unclipped).to(clipped.dtype), mask)
    return loss, clipfrac


def response_lengths(responses: Any, eos_token_ids: Sequence[int]) -> tuple[Any, Any]:
    """Tokens up to and including the first EOS (all of them without one), and whether an EOS came."""
    import torch

    is_eos = torch.zeros_like(responses, dtype=torch.bool)
    for token in eos_token_ids:
        is_eos |= responses == token
    has_eos = is_eos.any(-1)
    first = torch.where(
        has_eos, is_eos.int().argmax(-1), torch.full_like(has_eos, responses.size(-1), dtype=torch.long)
    )
    lengths = torch.where(has_eos, first + 1, first)
    return lengths, has_eos


# --------------------------------------------------------------------------------------
# The recipe.
# --------------------------------------------------------------------------------------


def train(run: Any) -> dict[str, Any]:
    import torch
    from transformers import get_scheduler, set_seed
    from trl.trainer.utils import disable_dropout_in_model

    from tunekite.api import apply_tuner, finish_run, load_policy, prompt_datasets, write_manifest
    from tunekite_rlhf.reference import load_reference

    check_arguments(run)
    out: Path = run.output_dir
    set_seed(run.seed)
    write_manifest(run, out, trainer=run.spec.name)

    # 1. The policy, its tokenizer (left padding: prompts are generated from) and the
    #    template that renders each prompt, ending with the reply header.
    policy = load_policy(run, padding_side="left")
    tokenizer = policy.tokenizer

    # 2. The prompts: rendered text plus the rows' other columns (for reward functions).
    prompts = list(prompt_datasets(run, policy.template, trainer="ppo")[0])
    if not prompts:
        raise ArgumentError("PPO: the training data has no prompts")

    # 3. The tuner, then the value head; the reference is the adapters-off model (LoRA)
    #    or a frozen copy / --ref_model (full tuning).
    model = apply_tuner(run, policy)
    disable_dropout_in_model(model)  # rollout and update must see the same policy
    if run.gradient_checkpointing and hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    reference = load_reference(run, model)
    value_head = ValueHead.for_model(model)

    # 4. The rewards: --reward_funcs in order, reward models last.
    rewards = build_rewards(run)

    # 5. Optimizer and schedule over PPO steps.
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(run, model, params, value_head)
    per_epoch, total_steps = schedule_length(run, len(prompts))
    warmup = run.warmup_steps or math.ceil(run.warmup_ratio * total_steps)
    scheduler = get_scheduler(
        run.lr_scheduler_type,
        optimizer,
        num_warmup_steps=warmup,
        num_training_steps=total_steps,
        scheduler_specific_kwargs=run.lr_scheduler_kwargs or {},
    )

    # 6. Resume: weights, value head, optimizer, schedule and step.
    step, history = 0, []
    if run.resume_from_checkpoint:
        step, history = load_checkpoint(
            Path(run.resume_from_checkpoint), model, value_head, optimizer, scheduler, run.resume_only_model
        )

    # 7. The loop.
    ppo = PpoLoop(run, model, reference, value_head, tokenizer, rewards, optimizer, params)
    sample_every = max(1, total_steps // run.num_sample_generations) if run.num_sample_generations > 0 else 0
    last = None
    while step < total_steps:
        batch = batch_for_step(prompts, step, run.data_seed, rollout_batch_size(run), per_epoch)
        torch.manual_seed(run.seed + step)
        started = time.perf_counter()
        stats, samples = ppo.step(batch, step)
        stats["time/step_s"] = time.perf_counter() - started
        learning_rate = scheduler.get_last_lr()[0]
        scheduler.step()
        step += 1
        record = {
            "step": step,
            "max_steps": total_steps,
            "epoch": round(step / per_epoch, 4),
            **{k: round(float(v), 6) for k, v in stats.items()},
            "learning_rate": learning_rate,
        }
        history.append(record)
        _append_jsonl(out / LOG_FILE, [record])
        print(json.dumps(record))
        if sample_every and step % sample_every == 0:
            _append_jsonl(out / SAMPLES_FILE, [{"step": step, **s} for s in samples])
        due = {"steps": step % max(1, run.save_steps) == 0, "epoch": step % per_epoch == 0, "no": False}
        if due[run.save_strategy] or step == total_steps:
            state = {"global_step": step, "max_steps": total_steps, "log_history": history}
            last = save_checkpoint(run, policy, state, value_head, optimizer, scheduler)

    # 8. The summary.
    return finish_run(run, last or out / f"checkpoint-{step}", history)


def check_arguments(run: Any) -> None:
    """Refuse what PPO cannot do, before anything loads."""
    from tunekite.api import world_size

    if world_size() > 1:
        raise ArgumentError(
            "ppo trains in one process: its rollout and update loop is not distributed; "
            "run it without NPROC_PER_NODE/NNODES/torchrun"
        )
    if not run.components.get("rewards") and not run.reward_model:
        raise ArgumentError(
            "PPO needs a reward: --reward_model PATH (a sequence-classification model, e.g. from "
            "tk run rm) and/or --reward_funcs NAME ... (tk list rewards)"
        )
    if run.val_dataset or run.split_dataset_ratio > 0:
        raise ArgumentError(
            "PPO does not evaluate during training: drop --val_dataset and --split_dataset_ratio "
            "(score a checkpoint with tk run infer instead)"
        )
    for name in ("num_ppo_epochs", "num_mini_batches", "response_length", "local_rollout_forward_batch_size"):
        if getattr(run, name) < 1:
            raise ArgumentError(f"--{name} must be at least 1 (got {getattr(run, name)})")
    for name in ("cliprange", "cliprange_value"):
        if getattr(run, name) <= 0:
            raise ArgumentError(f"--{name} must be positive (got {getattr(run, name)})")
    if not 0 <= run.gamma <= 1 or not 0 <= run.lam <= 1:
        raise ArgumentError(f"--gamma and --lam must be in [0, 1] (got {run.gamma}, {run.lam})")


def rollout_batch_size(run: Any) -> int:
    """Prompts per PPO step, as TRL counts them."""
    return run.per_device_train_batch_size * run.gradient_accumulation_steps * run.num_mini_batches


def schedule_length(run: Any, num_prompts: int) -> tuple[int, int]:
    """PPO steps per epoch over the prompts, and in all (`max_steps` wins over epochs)."""
    per_epoch = max(1, num_prompts // rollout_batch_size(run))
    total = run.max_steps if run.max_steps > 0 else math.ceil(run.num_train_epochs * per_epoch)
    return per_epoch, max(1, total)


def batch_for_step(rows: list[dict[str, Any]], step: int, seed: int, size: int, per_epoch: int) -> list[dict]:
    """The prompts of PPO step `step` (0-based): a fresh seeded shuffle every epoch, so
    any step's batch is known without replaying the ones before it."""
    import torch

    epoch, index = divmod(step, per_epoch)
    generator = torch.Generator().manual_seed(seed + epoch)
    order = torch.randperm(len(rows), generator=generator).tolist()
    picked = [order[(index * size + i) % len(order)] for i in range(size)]
    return [rows[i] for i in picked]


def _value_head_class() -> type:
    import torch

    class ValueHeadModule(torch.nn.Module):
        """V(s): one linear layer on the last hidden state, in float32. It starts at zero,
        so the first advantages are the scores' and not an untrained head's noise."""

        def __init__(self, hidden_size: int) -> None:
            super().__init__()
            self.summary = torch.nn.Linear(hidden_size, 1)
            torch.nn.init.zeros_(self.summary.weight)
            torch.nn.init.zeros_(self.summary.bias)

        def forward(self, hidden: Any) -> Any:
            return self.summary(hidden.float()).squeeze(-1)

    return ValueHeadModule


class ValueHead:
    """Factory for the value head module (a `torch.nn.Module`)."""

    @staticmethod
    def for_model(model: Any) -> Any:
        config = model.config
        hidden = getattr(config, "hidden_size", None) or config.get_text_config().hidden_size
        head = _value_head_class()(hidden)
        device = next(model.parameters()).device
        return head.to(device)


def make_optimizer(run: Any, model: Any, params: list, value_head: Any) -> Any:
    """The tuner's optimizer when it brings one (e.g. LoRA+), else `--optim` as transformers'
    optimizer factory builds it (weight decay on matrices only); the value head joins as
    its own parameter group."""
    from transformers import Trainer, TrainingArguments

    from tunekite.api import training_config, tuner_optimizer

    make = tuner_optimizer(run)
    optimizer = make(model) if make is not None else None
    if optimizer is None:
        settings = training_config(TrainingArguments, run, run.output_dir, has_eval=False)
        groups = [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": run.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ]
        try:
            optimizer_class, kwargs = Trainer.get_optimizer_cls_and_kwargs(settings, model)
            optimizer = optimizer_class([g for g in groups if g["params"]], **kwargs)
        except (TypeError, ValueError, ImportError) as exc:
            raise ArgumentError(
                f"--optim {run.optim}: PPO builds its optimizer over parameter groups, and this one "
                f"cannot be built that way ({exc}); use an AdamW or SGD variant"
            ) from None
    optimizer.add_param_group(
        {"params": list(value_head.parameters()), "lr": run.learning_rate, "weight_decay": 0.0}
    )
    return optimizer


# The loop ------------------------------------------------------------------------------


class PpoLoop:
    """Rollouts and updates of one PPO step; holds the models, not the schedule."""

    def __init__(
        self,
        run: Any,
        model: Any,
        reference: Any | None,
        value_head: Any,
        tokenizer: Any,
        rewards: list[tuple[str, Callable[..., list[float]]]],
        optimizer: Any,
        params: list,
    ) -> None:
        self.run, self.model, self.reference, self.value_head = run, model, reference, value_head
        self.tokenizer, self.rewards, self.optimizer = tokenizer, rewards, optimizer
        self.params = [*params, *value_head.parameters()]
        self.temperature = float(run.temperature)
        self.device = next(model.parameters()).device
        eos = getattr(model.generation_config, "eos_token_id", None) or tokenizer.eos_token_id
        self.eos_ids = [eos] if isinstance(eos, int) else list(eos)
        weights = run.reward_weights
        self.weights = list(weights) if weights is not None else [1.0] * len(rewards)

    # Forward passes ---------------------------------------------------------------------

    def forward(
        self, model: Any, query: Any, query_mask: Any, response: Any, response_mask: Any, with_values: bool
    ) -> tuple[Any, Any | None]:
        """Log-probabilities of the response tokens (at the sampling temperature) and,
        with the value head, V at the state before each response token."""
        import torch
        from trl.trainer.utils import selective_log_softmax

        ids = torch.cat([query, response], dim=1)
        mask = torch.cat([query_mask, response_mask], dim=1).long()
        position_ids = (mask.cumsum(1) - mask).clamp(min=0)
        outputs = model(
            input_ids=ids.masked_fill(mask == 0, self.tokenizer.pad_token_id),
            attention_mask=mask,
            position_ids=position_ids,
            output_hidden_states=with_values,
            use_cache=False,
        )
        q = query.size(1)
        logits = outputs.logits[:, q - 1 : -1].float()
        temperature = self.temperature if self.temperature > 0 else 1.0
        logprobs = selective_log_softmax(logits, response, temperature=temperature)
        values = None
        if with_values:
            values = self.value_head(outputs.hidden_states[-1][:, q - 1 : -1])
        return logprobs, values

    def reference_context(self) -> Any:
        return self.model.disable_adapter() if self.reference is None else nullcontext()

    # One step -----------------------------------------------------------------------------

    def step(self, batch: list[dict[str, Any]], step: int) -> tuple[dict[str, float], list[dict[str, Any]]]:
        import torch

        run = self.run
        roll = self.rollout(batch)
        query, query_mask = roll["query"], roll["query_mask"]
        response, response_mask, lengths = roll["response"], roll["response_mask"], roll["lengths"]
        logprobs, ref_logprobs, values, scores = (
            roll["logprobs"],
            roll["ref_logprobs"],
            roll["values"],
            roll["scores"],
        )

        # Rewards, advantages and returns.
        mask = response_mask.float()
        logprobs, ref_logprobs = logprobs * mask, ref_logprobs * mask
        values = values * mask
        kl = (logprobs - ref_logprobs) * mask
        penalty = kl_penalty(logprobs, ref_logprobs, run.kl_coef) * mask
        rewards = token_rewards(scores, penalty, lengths) * mask
        if run.whiten_rewards:
            rewards = whiten(rewards, response_mask, shift_mean=False) * mask
        advantages, returns = gae(rewards, values, run.gamma, run.lam, mask)
        advantages = whiten(advantages, response_mask) * mask

        # num_ppo_epochs passes of num_mini_batches optimizer steps.
        size = len(batch)
        mini = max(1, size // run.num_mini_batches)
        micro = max(1, min(run.per_device_train_batch_size, mini))
        generator = torch.Generator().manual_seed(run.seed + step)
        tracked: dict[str, list[float]] = {
            k: [] for k in ("pg", "vf", "clipfrac", "vf_clipfrac", "approxkl", "ratio", "grad")
        }
        self.model.train()
        for _ in range(run.num_ppo_epochs):
            order = torch.randperm(size, generator=generator)
            for start in range(0, size - mini + 1, mini):
                chosen = order[start : start + mini]
                self.optimizer.zero_grad(set_to_none=True)
                parts = [chosen[i : i + micro] for i in range(0, len(chosen), micro)]
                for part in parts:
                    new_logprobs, new_values = self.forward(
                        self.model, query[part], query_mask[part], response[part], response_mask[part], True
                    )
                    m = response_mask[part]
                    pg_loss, pg_stats = clipped_policy_loss(
                        new_logprobs, logprobs[part], advantages[part], run.cliprange, m
                    )
                    vf_loss, vf_clipfrac = clipped_value_loss(
                        new_values, values[part], returns[part], run.cliprange_value, m
                    )
                    loss = pg_loss + run.vf_coef * vf_loss
                    (loss * len(part) / len(chosen)).backward()
                    tracked["pg"].append(float(pg_loss.detach()))
                    tracked["vf"].append(float(vf_loss.detach()))
                    tracked["vf_clipfrac"].append(float(vf_clipfrac))
                    for key in ("clipfrac", "approxkl", "ratio"):
                        tracked[key].append(float(pg_stats[key]))
                norm = torch.nn.utils.clip_grad_norm_(self.params, run.max_grad_norm)
                tracked["grad"].append(float(norm))
                self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.eval()

        def avg(key: str) -> float:
            return sum(tracked[key]) / max(1, len(tracked[key]))

        non_score = (penalty.sum(1)).mean()
        stats = {
            "objective/kl": float(kl.sum(1).mean()),
            "objective/entropy": float((-logprobs).sum(1).mean()),
            "objective/non_score_reward": float(non_score),
            "objective/rlhf_reward": float(scores.mean() + non_score),
            "objective/scores": float(scores.mean()),
            **{f"rewards/{name}": float(v) for name, v in roll["per_reward"].items()},
            "policy/approxkl": avg("approxkl"),
            "policy/clipfrac": avg("clipfrac"),
            "loss/policy": avg("pg"),
            "loss/value": avg("vf"),
            "val/clipfrac": avg("vf_clipfrac"),
            "val/ratio": avg("ratio"),
            "val/num_eos_tokens": float(roll["has_eos"].sum()),
            "val/response_length": float(lengths.float().mean()),
            "grad_norm": avg("grad"),
        }
        return stats, roll["samples"]

    # Rollouts -------------------------------------------------------------------------

    def rollout(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        """Generate, then log-probabilities (policy and reference), values and scores."""
        import torch

        run, tok = self.run, self.tokenizer
        texts = [row["prompt"] for row in batch]
        encoded = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        if run.max_length:
            encoded = [ids[-run.max_length :] for ids in encoded]  # keep the question's end
        width = max(len(ids) for ids in encoded)
        pad = tok.pad_token_id
        query = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded], device=self.device)
        query_mask = torch.tensor(
            [[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=self.device
        )
        chunk = run.local_rollout_forward_batch_size
        parts: dict[str, list[Any]] = {"response": [], "logprobs": [], "ref": [], "values": []}
        self.model.eval()
        with torch.no_grad():
            for start in range(0, len(batch), chunk):
                q, qm = query[start : start + chunk], query_mask[start : start + chunk]
                generated = self.model.generate(
                    input_ids=q,
                    attention_mask=qm,
                    max_new_tokens=run.response_length,
                    do_sample=self.temperature > 0,
                    temperature=self.temperature if self.temperature > 0 else None,
                    top_k=0,
                    top_p=1.0,
                    pad_token_id=pad,
                    eos_token_id=self.eos_ids,
                )
                parts["response"].append(generated[:, q.size(1) :])
            width_r = max(r.size(1) for r in parts["response"])
            response = torch.cat(
                [torch.nn.functional.pad(r, (0, width_r - r.size(1)), value=pad) for r in parts["response"]]
            )
            lengths, has_eos = response_lengths(response, self.eos_ids)
            positions = torch.arange(response.size(1), device=self.device)
            response_mask = positions[None, :] < lengths[:, None]
            response = response.masked_fill(~response_mask, pad)
            for start in range(0, len(batch), chunk):
                sl = slice(start, start + chunk)
                args = (query[sl], query_mask[sl], response[sl], response_mask[sl])
                logprobs, values = self.forward(self.model, *args, with_values=True)
                with self.reference_context():
                    ref_logprobs, _ = self.forward(
                        self.model if self.reference is None else self.reference, *args, with_values=False
                    )
                parts["logprobs"].append(logprobs)
                parts["values"].append(values)
                parts["ref"].append(ref_logprobs)
        completion_ids = [r[: int(n)].tolist() for r, n in zip(response, lengths, strict=True)]
        scores, per_reward = self.score(batch, completion_ids, has_eos)
        samples = [
            {
                "prompt": p,
                "completion": tok.decode(ids, skip_special_tokens=True),
                "score": round(float(s), 6),
            }
            for p, ids, s in list(zip(texts, completion_ids, scores, strict=True))[:4]
        ]
        return {
            "query": query,
            "query_mask": query_mask,
            "response": response,
            "response_mask": response_mask,
            "lengths": lengths,
            "has_eos": has_eos,
            "logprobs": torch.cat(parts["logprobs"]),
            "ref_logprobs": torch.cat(parts["ref"]),
            "values": torch.cat(parts["values"]),
            "scores": scores,
            "per_reward": per_reward,
            "samples": samples,
        }

    def score(
        self, batch: list[dict[str, Any]], completion_ids: list[list[int]], has_eos: Any
    ) -> tuple[Any, dict]:
        """The weighted sum of every reward (None counts 0), minus `missing_eos_penalty`
        for responses that never ended; also each reward's mean."""
        import torch

        tok = self.tokenizer
        completions = [tok.decode(ids, skip_special_tokens=True) for ids in completion_ids]
        with_eos = [tok.decode(ids, skip_special_tokens=False) for ids in completion_ids]
        prompts = [row["prompt"] for row in batch]
        columns = {k: [row.get(k) for row in batch] for k in batch[0] if k != "prompt"}
        total = torch.zeros(len(batch), dtype=torch.float32)
        per_reward: dict[str, float] = {}
        for (name, fn), weight in zip(self.rewards, self.weights, strict=True):
            raw = fn(
                completions,
                prompts=prompts,
                completion_ids=completion_ids,
                completions_with_eos=with_eos,
                max_completion_length=self.run.response_length,
                **columns,
            )
            values = torch.tensor([0.0 if s is None else float(s) for s in raw], dtype=torch.float32)
            if len(values) != len(batch):
                raise ArgumentError(
                    f"reward {name!r} returned {len(values)} scores for {len(batch)} completions"
                )
            per_reward[name] = float(values.mean())
            total += weight * values
        penalty = self.run.missing_eos_penalty
        if penalty is not None:
            total = total - penalty * (~has_eos.cpu()).float()
        return total.to(self.device), per_reward


# Checkpoints ---------------------------------------------------------------------------


def save_checkpoint(
    run: Any, policy: Any, state: dict[str, Any], value_head: Any, optimizer: Any, scheduler: Any
) -> Path:
    """`checkpoint-N` through core's `commit_checkpoint`: the adapter (or the full model and
    its tokenizer), the value head, unless `--save_only_model` the optimizer and schedule,
    the trainer state, and the self-description naming the rewards and value head."""
    import torch
    from safetensors.torch import save_file

    from tunekite.api import checkpoint_describer, commit_checkpoint

    model = policy.model

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        if not hasattr(model, "disable_adapter"):
            policy.tokenizer.save_pretrained(folder)  # a full model folder transformers loads as is
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in value_head.state_dict().items()},
            str(folder / VALUE_HEAD_FILE),
        )
        if not run.save_only_model:
            torch.save(optimizer.state_dict(), folder / OPTIMIZER_FILE)
            torch.save(scheduler.state_dict(), folder / SCHEDULER_FILE)
        text = json.dumps(state, indent=2, default=float) + "\n"
        (folder / STATE_FILE).write_text(text, encoding="utf-8")

    describe = checkpoint_describer(
        run,
        policy.template.name,
        policy.dtype,
        rewards=[s.name for s in run.components.get("rewards", [])],
        reward_model=run.reward_model,
        value_head=VALUE_HEAD_FILE,
    )
    return commit_checkpoint(
        run.output_dir, state["global_step"], write, describe=describe, save_total_limit=run.save_total_limit
    )


def load_checkpoint(
    folder: Path, model: Any, value_head: Any, optimizer: Any, scheduler: Any, only_model: bool
) -> tuple[int, list[dict[str, Any]]]:
    """Weights and value head; unless `only_model`, optimizer, schedule, step and history."""
    import torch
    from safetensors.torch import load_file

    from tunekite.api import load_weights

    if not (folder / STATE_FILE).exists() or not (folder / VALUE_HEAD_FILE).exists():
        raise ArgumentError(
            f"--resume_from_checkpoint {folder}: not a PPO checkpoint "
            f"({STATE_FILE} and {VALUE_HEAD_FILE} expected)"
        )
    load_weights(model, folder)
    value_head.load_state_dict(load_file(str(folder / VALUE_HEAD_FILE)))
    if only_model:
        return 0, []
    if not (folder / OPTIMIZER_FILE).exists():
        raise ArgumentError(
            f"--resume_from_checkpoint {folder}: saved with --save_only_model, no optimizer state; "
            "add --resume_only_model true to start a new schedule from its weights"
        )
    optimizer.load_state_dict(torch.load(folder / OPTIMIZER_FILE, weights_only=True))
    scheduler.load_state_dict(torch.load(folder / SCHEDULER_FILE, weights_only=True))
    state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    return int(state["global_step"]), list(state.get("log_history", []))


def _append_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, default=float) + "\n")
