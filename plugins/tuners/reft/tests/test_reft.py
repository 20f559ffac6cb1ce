"""ReFT: conformance, which layers carry interventions, the refusals, save -> load -> the
same logits, and `tk run sft --tuner reft` then `tk run infer --adapters` on the tiny model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from tunekite_reft.interventions import ATTRIBUTE, CONFIG_FILE, WEIGHTS_FILE

from tunekite.api import ArgumentError, TunerArguments, registry, start
from tunekite.testing import TunerConformance, save_tiny_chat_model, tiny_causal_lm


class TestReftConformance(TunerConformance):
    name = "reft"


SPEC = registry("tuners").get("reft")
IDS = torch.arange(24).reshape(2, 12)


def reft(model: Any = None, **arguments: Any) -> Any:
    return SPEC.load()(model or tiny_causal_lm(), SPEC.args(**arguments), TunerArguments())


def intervened_layers(model: Any) -> list[int]:
    return [i for i, layer in enumerate(model.model.layers) if hasattr(layer, ATTRIBUTE)]


def test_interventions_sit_on_the_chosen_layers_only() -> None:
    assert intervened_layers(reft()) == list(range(tiny_causal_lm().config.num_hidden_layers))
    model = reft(reft_layers=[1], reft_rank=3, reft_intervention_type="NoreftIntervention")
    assert intervened_layers(model) == [1]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(f"model.layers.1.{ATTRIBUTE}.") for n in trainable)
    assert type(getattr(model.model.layers[1], ATTRIBUTE)).__name__ == "NoreftIntervention"


def test_reft_args_reach_the_intervention() -> None:
    model = reft(reft_layers=[0], reft_args=json.dumps({"dropout": 0.25, "act_fn": "relu"}))
    intervention = getattr(model.model.layers[0], ATTRIBUTE)
    assert intervention.dropout.p == 0.25 and isinstance(intervention.act_fn, torch.nn.ReLU)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"reft_args": "{not json"}, "reft_args is not JSON"),
        ({"reft_args": "[1]"}, "must be a JSON object"),
        ({"reft_args": '{"low_rank_dimension": 2}'}, "set by TuneKite"),
        ({"reft_intervention_type": "Loreft"}, "must be one of NoreftIntervention"),
        ({"reft_rank": 0}, "at least 1"),
        ({"reft_layers": [1, 1]}, "distinct layer numbers"),
        ({"reft_layers": [-1]}, "distinct layer numbers from 0"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SPEC.args(**arguments)


def test_continuing_from_adapters_is_refused() -> None:
    with pytest.raises(ArgumentError, match="continuing from --adapters is not supported"):
        SPEC.load()(tiny_causal_lm(), SPEC.args(), TunerArguments(adapters=["earlier/checkpoint-2"]))


def test_a_layer_beyond_the_model_is_refused() -> None:
    with pytest.raises(ArgumentError, match=r"--reft_layers \[7\]: the model has 2 layers"):
        reft(reft_layers=[0, 7])


@pytest.mark.parametrize("kind", ["LoreftIntervention", "DireftIntervention"])
def test_save_then_load_gives_the_same_logits(tmp_path: Path, kind: str) -> None:
    model = reft(reft_intervention_type=kind, reft_layers=[0])
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(2):
        model(input_ids=IDS, labels=IDS).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        trained = model(input_ids=IDS).logits
    model.save_pretrained(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]  # no base weights
    loaded = SPEC.load_adapter_loader()(tiny_causal_lm(), str(tmp_path))
    with torch.no_grad():
        again = loaded(input_ids=IDS).logits
        plain = tiny_causal_lm()(input_ids=IDS).logits
    assert torch.allclose(trained, again, atol=1e-5)
    assert not torch.allclose(plain, again, atol=1e-3), "the loaded interventions changed nothing"


def test_sft_then_infer_with_adapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    model = save_tiny_chat_model(tmp_path / "tiny-chat")
    data = tmp_path / "sums.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"{i} plus {i}?"},
                {"role": "assistant", "content": f"{2 * i}."},
            ]
        }
        for i in range(8)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    sft = [
        "--model", str(model), "--dataset", str(data), "--add_version", "false", "--report_to", "none",
        "--split_dataset_ratio", "0", "--max_steps", "2", "--save_steps", "2",
        "--per_device_train_batch_size", "4", "--learning_rate", "1e-2",
        "--train_type", "reft", "--reft_layers", "0", "1", "--reft_rank", "2",
    ]  # fmt: skip
    start("sft", [*sft, "--output_dir", str(out)])
    checkpoint = out / "checkpoint-2"
    assert json.loads((checkpoint / CONFIG_FILE).read_text())["layers"] == [0, 1]
    assert not list(checkpoint.glob("model*.safetensors")), "the checkpoint saved the base model"
    answers = tmp_path / "answers.jsonl"
    start("infer", [
        "--adapters", str(checkpoint), "--val_dataset", str(data), "--result_path", str(answers),
        "--max_new_tokens", "3", "--temperature", "0", "--val_dataset_sample", "2",
    ])  # fmt: skip
    assert len(answers.read_text().splitlines()) == 2
    with pytest.raises(ArgumentError, match="cannot merge"):
        start("export", ["--adapters", str(checkpoint), "--merge_lora", "true"])


def test_resume_is_refused_before_anything_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec's `rejects` stops the run at argument resolution: no model named by --model
    exists, and no output folder is made."""
    monkeypatch.chdir(tmp_path)
    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    (checkpoint / CONFIG_FILE).write_text("{}", encoding="utf-8")
    argv = ["--model", "no-such-model", "--dataset", "no-such.jsonl", "--train_type", "reft",
            "--output_dir", "again", "--resume_from_checkpoint", str(checkpoint)]  # fmt: skip
    refused = r"^--resume_from_checkpoint: tuner 'reft' .*a ReFT run cannot resume"
    with pytest.raises(ArgumentError, match=refused):
        start("sft", argv)
    assert not (tmp_path / "again").exists()


def test_without_pyreft_the_run_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyreft", None)
    install = r"pip install --no-deps pyreft==0\.1\.0 pyvene==0\.1\.8$"
    with pytest.raises(ArgumentError, match=rf"needs pyreft.*: {install}"):
        reft()


def test_float32_interventions_load_onto_a_bfloat16_model(tmp_path: Path) -> None:
    """pyreft's own loader rebuilds interventions in bfloat16 and then fails on dtypes; ours
    stay float32 and the hidden states are cast around them."""
    reft(reft_layers=[1]).save_pretrained(str(tmp_path))
    model = SPEC.load_adapter_loader()(tiny_causal_lm().to(torch.bfloat16), str(tmp_path))
    intervention = getattr(model.model.layers[1], ATTRIBUTE)
    assert {p.dtype for p in intervention.parameters()} == {torch.float32}
    with torch.no_grad():
        logits = model(input_ids=IDS).logits
        full = SPEC.load_adapter_loader()(tiny_causal_lm(), str(tmp_path))(input_ids=IDS).logits
    assert logits.dtype == torch.bfloat16
    assert torch.allclose(logits.float(), full, atol=0.1)
