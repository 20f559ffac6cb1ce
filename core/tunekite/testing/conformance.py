"""Conformance suites: a plugin's test subclasses one and sets `name`.

Each suite checks the contract of its kind against the component as installed (the
real plugin host), so a plugin that passes works with every TuneKite command that
uses that kind. Suites for templates, engines and datasets check the registration
contract today; the kind-specific checks join them as those contracts are built.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, ClassVar

import pytest

from tunekite.arguments.fields import fields_of
from tunekite.plugins import get_host
from tunekite.specs import ComponentSpec


class ComponentConformance:
    """Checks every registered component must pass, whatever its kind."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    arg_overrides: ClassVar[dict[str, Any]] = {}

    def spec(self) -> ComponentSpec:
        return get_host().registry(self.kind).get(self.name)

    def make_args(self) -> Any:
        spec = self.spec()
        if spec.args is None:
            return None
        return spec.args(**self.arg_overrides)

    def test_registered_with_summary(self) -> None:
        spec = self.spec()
        assert spec.name == self.name
        assert spec.summary.strip() and "\n" not in spec.summary.strip()

    def test_factory_resolves(self) -> None:
        assert callable(self.spec().load())

    def test_arguments_round_trip_through_json(self) -> None:
        """What args.json stores must parse back to the same values."""
        args = self.make_args()
        if args is None:
            pytest.skip(f"{self.name} declares no arguments")
        stored = json.loads(json.dumps(dataclasses.asdict(args)))
        for f in fields_of(type(args)):
            assert f.convert(stored[f.name], "args.json") == getattr(args, f.name), f.name


class TunerConformance(ComponentConformance):
    """A tuner turns a model into one whose trainable parameters learn."""

    kind = "tuners"
    freezes_base: ClassVar[bool] = True

    def prepared(self) -> Any:
        from tunekite.arguments.groups import TunerArguments
        from tunekite.testing.models import tiny_causal_lm

        return self.spec().load()(tiny_causal_lm(), self.make_args(), TunerArguments())

    def test_trainable_parameters(self) -> None:
        model = self.prepared()
        params = list(model.named_parameters())
        trainable = [n for n, p in params if p.requires_grad]
        assert trainable, "the tuner left nothing trainable"
        if self.freezes_base:
            assert len(trainable) < len(params), "the tuner left the base model trainable"

    def test_training_step_changes_output(self) -> None:
        import torch

        model = self.prepared()
        model.train()
        ids = torch.randint(0, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            before = model(input_ids=ids).logits.clone()
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
        for _ in range(2):  # zero-initialised adapters need a step before all grads flow
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            for name, p in model.named_parameters():
                if not p.requires_grad:
                    assert p.grad is None, f"frozen parameter {name} received a gradient"
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
        with torch.no_grad():
            after = model(input_ids=ids).logits
        assert not torch.allclose(before, after), "a training step did not change the output"


class RewardConformance(ComponentConformance):
    """A reward maps completions (plus dataset columns) to one finite float each."""

    kind = "rewards"
    completions: ClassVar[list[str]] = ["The answer is 4.", "", "4 4 4 4 4 4 4 4", "I don't know"]
    columns: ClassVar[dict[str, list[Any]]] = {}

    def reward_function(self) -> Any:
        return self.spec().load()(self.make_args())

    def test_one_finite_float_per_completion(self) -> None:
        rewards = self.reward_function()(self.completions, **self.columns)
        assert len(rewards) == len(self.completions)
        assert all(isinstance(r, float) and math.isfinite(r) for r in rewards), rewards

    def test_deterministic(self) -> None:
        fn = self.reward_function()
        assert fn(self.completions, **self.columns) == fn(self.completions, **self.columns)


class TemplateConformance(ComponentConformance):
    """Chat templates (registration contract; encoding parity checks arrive with templates)."""

    kind = "templates"


class EngineConformance(ComponentConformance):
    """Inference engines (registration contract; request/response checks arrive with serving)."""

    kind = "engines"


class DatasetConformance(ComponentConformance):
    """Named datasets (registration contract; row-format checks arrive with datasets)."""

    kind = "datasets"
