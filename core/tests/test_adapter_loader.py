"""`--adapters CKPT` of a tuner whose checkpoints are not peft adapters: the tuner recorded in
the checkpoint's args.json loads it (`TunerSpec.adapter_loader`); peft loads the rest."""

from __future__ import annotations

import json

import pytest

from tunekite.api import TunerSpec, hookimpl, resolve
from tunekite.errors import ArgumentError
from tunekite.tasks.loading import load_for_inference, with_checkpoint_args

LOADED: list[str] = []


def mark(model, folder: str):
    LOADED.append(folder)
    model.marked = folder
    return model


@hookimpl
def tk_register_tuners(register):
    register(
        TunerSpec(name="marker", summary="a test tuner", factory=lambda model, *_: model, adapter_loader=mark)
    )
    register(TunerSpec(name="lora", summary="stand-in", factory=lambda model, *_: model))


Marker = type("Marker", (), {"tk_register_tuners": staticmethod(tk_register_tuners)})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The base model every fake checkpoint names."""
    from tunekite.testing import save_tiny_chat_model

    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture(autouse=True)
def host(tk_plugins, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    LOADED.clear()
    tk_plugins.add(Marker, name="marker")


def checkpoint(tmp_path, tiny, tuner: str):
    folder = tmp_path / f"{tuner}-run" / "checkpoint-1"
    folder.mkdir(parents=True)
    saved = {"model": str(tiny), "tunekite": {"checkpoint": {"tuner": {"name": tuner}}}}
    (folder / "args.json").write_text(json.dumps(saved))
    return folder


def infer_model(*adapters: str):
    run, _ = resolve("infer", ["--adapters", *adapters])
    return load_for_inference(with_checkpoint_args(run))[0]


def test_the_recorded_tuner_loads_its_own_adapter(tiny, tmp_path) -> None:
    folder = str(checkpoint(tmp_path, tiny, "marker"))
    assert infer_model(folder).marked == folder
    assert [folder] == LOADED


def test_a_tuner_without_a_loader_leaves_it_to_peft(tiny, tmp_path) -> None:
    with pytest.raises(ArgumentError, match=r"no adapter_config\.json, so it is not a PEFT adapter"):
        infer_model(str(checkpoint(tmp_path, tiny, "lora")))
    assert LOADED == []


def test_an_uninstalled_recorded_tuner_is_named(tiny, tmp_path) -> None:
    folder = checkpoint(tmp_path, tiny, "gone")
    with pytest.raises(ArgumentError, match=r"was trained with tuner 'gone' \(its args.json\)"):
        infer_model(str(folder))


def test_a_loader_adapter_loads_alone(tiny, tmp_path) -> None:
    first = str(checkpoint(tmp_path, tiny, "marker"))
    second = f"other={checkpoint(tmp_path, tiny, 'lora')}"
    with pytest.raises(ArgumentError, match="loads alone, not with 1 others"):
        infer_model(first, second)
