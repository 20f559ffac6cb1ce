"""Every tuner of the table: the shared conformance suite (trainable set, no gradient into
frozen weights, a step changes the logits), then save -> plain peft load -> same logits."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from tunekite.api import TunerArguments, registry
from tunekite.testing import TunerConformance, tiny_causal_lm
from tunekite_peft.methods import METHODS

TINY: dict[str, dict[str, Any]] = {
    "fourierft": {"fourier_n_frequency": 100},  # the tiny model's 32x32 weights have 1024 entries
    "miss": {"miss_rank": 8},  # the shard size divides the tiny model's 32-wide inputs
    "vera": {"vera_rank": 16},
    "prompt_tuning": {"num_virtual_tokens": 4},
    "prefix_tuning": {"num_virtual_tokens": 4},
    "ptuning": {"num_virtual_tokens": 4},
}
"""Arguments that fit the two-layer test model; every other tuner runs on its defaults."""

for _name in METHODS:
    _cls = type(f"Test{_name.title().replace('_', '')}Conformance", (TunerConformance,), {})
    _cls.name = _name
    _cls.arg_overrides = TINY.get(_name, {})
    globals()[_cls.__name__] = _cls


def trained(name: str) -> tuple[Any, Any]:
    """Tuner `name` on the tiny model after two SGD steps, and the eval-mode logits."""
    import torch

    spec = registry("tuners").get(name)
    args = spec.args(**TINY.get(name, {})) if spec.args else None
    model = spec.load()(tiny_causal_lm(), args, TunerArguments())
    ids = torch.arange(12).reshape(2, 6)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model.train()
    for _ in range(2):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        return model, model(input_ids=ids).logits


@pytest.mark.parametrize("name", sorted(METHODS))
def test_save_then_plain_peft_load_gives_the_same_logits(name: str, tmp_path) -> None:
    import torch
    from peft import PeftModel

    model, logits = trained(name)
    model.save_pretrained(tmp_path / "adapter")
    loaded = PeftModel.from_pretrained(tiny_causal_lm(), tmp_path / "adapter")
    loaded.eval()
    with torch.no_grad():
        again = loaded(input_ids=torch.arange(12).reshape(2, 6)).logits
    assert torch.allclose(again, logits, atol=1e-5), name


class TestAdaloraBudgetCallback:
    """The callback hands AdaLoRA the real step count and prunes ranks as training goes."""

    def test_total_step_follows_the_trainer_and_ranks_shrink(self) -> None:
        from types import SimpleNamespace

        import torch

        from tunekite_peft.adalora import RankBudgetCallback

        spec = registry("tuners").get("adalora")
        model = spec.load()(
            tiny_causal_lm(), spec.args(adalora_init_r=6, adalora_target_r=2), TunerArguments()
        )
        callback, state = RankBudgetCallback(), SimpleNamespace(max_steps=6, global_step=0)
        callback.on_train_begin(None, state, None, model=model)
        assert model.peft_config["default"].total_step == 6
        ids = torch.arange(12).reshape(2, 6)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        for step in range(6):
            model(input_ids=ids, labels=ids).loss.backward()
            optimizer.step()
            state.global_step = step
            callback.on_optimizer_step(None, state, None, model=model)
            optimizer.zero_grad()
        pattern = model.peft_config["default"].rank_pattern
        assert pattern, "update_and_allocate never ran"
        kept = sum(int(torch.as_tensor(mask).sum()) for mask in pattern.values())
        assert kept < 6 * len(pattern), "no rank was pruned"

    def test_warmups_longer_than_the_run_are_refused(self) -> None:
        from types import SimpleNamespace

        from tunekite.api import ArgumentError
        from tunekite_peft.adalora import RankBudgetCallback

        spec = registry("tuners").get("adalora")
        model = spec.load()(tiny_causal_lm(), spec.args(adalora_tinit=3, adalora_tfinal=3), TunerArguments())
        with pytest.raises(ArgumentError, match="leave no steps"):
            RankBudgetCallback().on_train_begin(None, SimpleNamespace(max_steps=5), None, model=model)


def test_virtual_token_tuners_refuse_target_modules() -> None:
    from tunekite.api import ArgumentError

    spec = registry("tuners").get("prompt_tuning")
    with pytest.raises(ArgumentError, match="attaches to no module"):
        spec.load()(tiny_causal_lm(), spec.args(), TunerArguments(target_modules=["q_proj"]))


def test_fourierft_starts_from_the_base_model() -> None:
    """Its spectrum starts at zero (peft's random start at scaling 300 broke SmolLM2)."""
    import torch

    ids = torch.arange(12).reshape(2, 6)
    torch.manual_seed(0)
    base = tiny_causal_lm().eval()
    with torch.no_grad():
        before = base(input_ids=ids).logits
    spec = registry("tuners").get("fourierft")
    model = spec.load()(base, spec.args(**TINY["fourierft"]), TunerArguments()).eval()
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, before)


def test_ln_tuning_trains_only_norms_unless_told() -> None:
    spec = registry("tuners").get("ln_tuning")
    model = spec.load()(tiny_causal_lm(), None, TunerArguments())
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all("norm" in n for n in trained)
    only = spec.load()(tiny_causal_lm(), None, TunerArguments(target_modules=["input_layernorm"]))
    assert all("input_layernorm" in n for n, p in only.named_parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        ("boft", {"boft_block_num": 2}, "exactly one of boft_block_size"),
        ("adalora", {"adalora_init_r": 4}, "adalora_init_r"),
        ("vera", {"vera_dropout": 1.0}, "vera_dropout"),
        ("loha", {"loha_rank": 0}, "loha_rank"),
    ],
)
def test_bad_values_are_rejected(name: str, bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        registry("tuners").get(name).args(**bad)


class TestMapping:
    """ms-swift's names land on peft's fields."""

    ARGS: ClassVar[dict[str, dict[str, Any]]] = {
        "vera": {"vera_rank": 16, "vera_projection_prng_key": 7, "vera_d_initial": 0.5},
        "boft": {"boft_block_size": 0, "boft_block_num": 4, "boft_dropout": 0.1},
        "fourierft": {"fourier_n_frequency": 100, "fourier_scaling": 10.0},
    }
    EXPECTED: ClassVar[dict[str, dict[str, Any]]] = {
        "vera": {"r": 16, "projection_prng_key": 7, "d_initial": 0.5},
        "boft": {"boft_block_size": 0, "boft_block_num": 4, "boft_dropout": 0.1},
        "fourierft": {"n_frequency": 100, "scaling": 10.0},
    }

    @pytest.mark.parametrize("name", ["vera", "boft", "fourierft"])
    def test_reference_names_map_onto_peft(self, name: str) -> None:
        spec = registry("tuners").get(name)
        model = spec.load()(tiny_causal_lm(), spec.args(**self.ARGS[name]), TunerArguments())
        config = model.peft_config["default"]
        assert {k: getattr(config, k) for k in self.EXPECTED[name]} == self.EXPECTED[name]
