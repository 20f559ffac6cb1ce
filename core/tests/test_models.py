"""Model loading: which spec handles `--model`, and the Hugging Face loader on a tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tunekite import hookimpl
from tunekite.api import resolve
from tunekite.arguments.groups import ModelArguments
from tunekite.errors import ArgumentError, DuplicateNameError, TunekiteError
from tunekite.models import (
    declared_template,
    load_model,
    load_tokenizer,
    model_folder,
    resolve_model_spec,
)
from tunekite.plugin_host import get_host
from tunekite.registrations import ModelSpec
from tunekite.testing import tiny_causal_lm

WORDS = ["hello", "world", "the", "kite", "flies", "high", "over", "hill", "a", "is"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama saved in bfloat16, with a word-level tokenizer that has no pad token."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.save_pretrained(folder)
    tiny_causal_lm().to(torch.bfloat16).save_pretrained(folder)
    return folder


def plugin(**hooks):
    return type("FakePlugin", (), {name: staticmethod(fn) for name, fn in hooks.items()})


def models_plugin(*specs: ModelSpec):
    @hookimpl
    def tk_register_models(register):
        for spec in specs:
            register(spec)

    return plugin(tk_register_models=tk_register_models)


def ids(tokenizer, text: str = "hello the kite flies"):
    return tokenizer(text, return_tensors="pt").input_ids


# -- the Hugging Face loader ---------------------------------------------------------


def test_loads_folder_with_config_dtype_sdpa_and_pad(tk_plugins, tiny_folder) -> None:
    model, tokenizer = load_model(ModelArguments(model=str(tiny_folder)), host=get_host())
    assert type(model).__name__ == "LlamaForCausalLM"
    assert str(model.dtype) == "torch.bfloat16"  # torch_dtype None keeps config.json's
    assert model.config._attn_implementation == "sdpa"
    assert tokenizer.pad_token == tokenizer.eos_token == "</s>"
    assert model(ids(tokenizer)).logits.shape == (1, 4, 128)


def test_dtype_attention_and_model_kwargs_are_honoured(tk_plugins, tiny_folder) -> None:
    args = ModelArguments(
        model=str(tiny_folder), torch_dtype="float32", attn_impl="eager", model_kwargs={"use_cache": False}
    )
    model, _ = load_model(args, host=get_host())
    assert str(model.dtype) == "torch.float32"
    assert model.config._attn_implementation == "eager"
    assert model.config.use_cache is False


def test_device_map_and_max_memory(tk_plugins, tiny_folder) -> None:
    """max_memory caps what device_map auto places: 1 GB holds the tiny model in memory,
    20 KB does not, so accelerate offloads it to disk (or, on transformers 5.17,
    refuses to offload all of it)."""

    def load(device_map: str, cap: str):
        args = ModelArguments(model=str(tiny_folder), device_map=device_map, max_memory={"cpu": cap})
        return load_model(args, host=get_host())[0]

    assert load("cpu", "1GB").device.type == "cpu"
    model = load("auto", "1GB")
    assert set((getattr(model, "hf_device_map", None) or {"": "cpu"}).values()) == {"cpu"}
    try:
        model = load("auto", "20KB")
    except ValueError as exc:  # transformers 5.17 refuses to put a whole model on disk
        assert "offload the whole model to the disk" in str(exc)
    else:
        assert set(model.hf_device_map.values()) == {"disk"}


def test_seq_cls_with_num_labels(tk_plugins, tiny_folder) -> None:
    model, tokenizer = load_model(
        ModelArguments(model=str(tiny_folder), task_type="seq_cls", num_labels=3), host=get_host()
    )
    assert type(model).__name__ == "LlamaForSequenceClassification"
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert model(ids(tokenizer)).logits.shape == (1, 3)


def test_seq_cls_without_num_labels_is_an_error(tk_plugins, tiny_folder) -> None:
    with pytest.raises(ArgumentError, match="num_labels"):
        load_model(ModelArguments(model=str(tiny_folder), task_type="seq_cls"), host=get_host())


def test_rope_scaling_types_and_json(tk_plugins, tiny_folder) -> None:
    args = ModelArguments(model=str(tiny_folder), rope_scaling="linear")
    model, _ = load_model(args, max_length=128, host=get_host())
    assert model.config.rope_parameters["rope_type"] == "linear"
    assert model.config.rope_parameters["factor"] == 2.0  # 128 / max_position_embeddings 64
    rope = json.dumps({"type": "dynamic", "factor": 3.0})
    model, _ = load_model(ModelArguments(model=str(tiny_folder), rope_scaling=rope), host=get_host())
    rope_parameters = model.config.rope_parameters
    assert (rope_parameters["rope_type"], rope_parameters["factor"]) == ("dynamic", 3.0)
    with pytest.raises(ArgumentError, match="needs --max_length"):
        load_model(ModelArguments(model=str(tiny_folder), rope_scaling="linear"), host=get_host())


def test_run_is_accepted_and_its_max_length_used(tk_plugins, tiny_folder) -> None:
    argv = ["--model", str(tiny_folder), "--tuner", "full", "--rope_scaling", "linear", "--max_length", "256"]
    run, _ = resolve("sft", argv)
    model, _ = load_model(run)
    assert model.config.rope_parameters["factor"] == 4.0


def test_tokenizer_only_does_not_load_weights(tk_plugins, tiny_folder, monkeypatch) -> None:
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    tokenizer = load_tokenizer(ModelArguments(model=str(tiny_folder)), host=get_host())
    assert tokenizer.convert_ids_to_tokens(ids(tokenizer)[0].tolist()) == ["hello", "the", "kite", "flies"]


# -- bad --model values --------------------------------------------------------------


def test_missing_local_path_is_named(tk_plugins, tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(TunekiteError, match="does not exist") as info:
        load_model(ModelArguments(model=str(missing)), host=get_host())
    assert str(missing) in str(info.value)


def test_folder_without_config_is_not_a_model(tk_plugins, tmp_path) -> None:
    with pytest.raises(TunekiteError, match=r"no config\.json"):
        load_model(ModelArguments(model=str(tmp_path)), host=get_host())


def test_unclaimed_file_says_no_loader_claims_it(tk_plugins, tmp_path) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\0")
    with pytest.raises(TunekiteError, match=r"is a file.*no installed model loader claims \.bin files"):
        load_model(ModelArguments(model=str(weights)), host=get_host())


def test_hub_id_offline_names_it_and_suggests_a_local_path(tk_plugins, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TunekiteError, match="HF_HUB_OFFLINE") as info:
        load_model(ModelArguments(model="no-org/no-such-model-xyz"), host=get_host())
    assert "'no-org/no-such-model-xyz'" in str(info.value)
    assert "--model /path/to/no-such-model-xyz" in str(info.value)


def test_hub_id_unreachable_is_a_clear_error(tk_plugins, monkeypatch) -> None:
    import huggingface_hub

    def unreachable(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(TunekiteError, match="downloading it from the Hugging Face hub failed: Name or"):
        load_model(ModelArguments(model="some-org/some-model"), host=get_host())


def test_no_model_is_an_error(tk_plugins) -> None:
    with pytest.raises(ArgumentError, match="No model given"):
        load_model(ModelArguments(), host=get_host())


# -- which spec handles --model ------------------------------------------------------


def test_paths_and_hub_ids_go_to_the_hf_loader(tk_plugins) -> None:
    assert resolve_model_spec("/some/folder", host=get_host()).name == "hf"
    assert resolve_model_spec("org/model", host=get_host()).name == "hf"
    assert declared_template("org/model", host=get_host()) is None


def test_named_model_uses_its_spec_and_declares_a_template(tk_plugins, tiny_folder) -> None:
    calls = []

    def folder(model: str) -> Path:
        calls.append(model)
        return tiny_folder

    spec = ModelSpec(name="tiny-named", summary="a named tiny model", template="chatml", folder=folder)
    tk_plugins.add(models_plugin(spec))
    assert declared_template("tiny-named", host=get_host()) == "chatml"
    assert calls == []  # the template is known without resolving any folder
    model, _ = load_model(ModelArguments(model="tiny-named"), host=get_host())
    assert type(model).__name__ == "LlamaForCausalLM" and calls == ["tiny-named"]
    assert model_folder(ModelArguments(model="tiny-named"), host=get_host()) == tiny_folder
    assert load_tokenizer(ModelArguments(model="tiny-named"), host=get_host()).eos_token == "</s>"


def test_file_suffix_claims_paths_and_model_type_forces_a_spec(tk_plugins, tiny_folder) -> None:
    seen = []
    spec = ModelSpec(
        name="fakefmt",
        summary="files in a fake format",
        file_suffixes=(".fake",),
        folder=lambda model: seen.append(model) or tiny_folder,
    )
    tk_plugins.add(models_plugin(spec))
    assert resolve_model_spec("weights/X.FAKE", host=get_host()).name == "fakefmt"
    assert resolve_model_spec(str(tiny_folder), model_type="fakefmt", host=get_host()).name == "fakefmt"
    assert resolve_model_spec("./fakefmt", host=get_host()).name == "hf"  # a path is never a registered name
    load_model(ModelArguments(model="weights/x.fake"), host=get_host())
    assert seen == ["weights/x.fake"]


def test_two_specs_claiming_a_suffix_is_an_error(tk_plugins) -> None:
    a = ModelSpec(name="a", summary="a", file_suffixes=(".fake",), folder="x.y:z")
    b = ModelSpec(name="b", summary="b", file_suffixes=(".fake",), folder="x.y:z")
    tk_plugins.add(models_plugin(a, b))
    with pytest.raises(DuplicateNameError, match=r"claimed by the model loaders 'a' .* and 'b'"):
        resolve_model_spec("m.fake", host=get_host())


def test_unknown_model_type_lists_what_is_installed(tk_plugins) -> None:
    with pytest.raises(ArgumentError, match=r"--model_type: Unknown model 'hff'\. Did you mean 'hf'"):
        resolve_model_spec("org/model", model_type="hff", host=get_host())


def test_spec_with_own_factory_loads_tokenizer_through_it(tk_plugins) -> None:
    spec = ModelSpec(name="custom", summary="built in code", factory=lambda args, **kw: ("model", "tok"))
    tk_plugins.add(models_plugin(spec))
    assert model_folder(ModelArguments(model="custom"), host=get_host()) is None
    assert load_tokenizer(ModelArguments(model="custom"), host=get_host()) == "tok"


def test_model_spec_checks_suffixes_and_folder() -> None:
    with pytest.raises(ValueError, match=r"must look like '\.gguf'"):
        ModelSpec(name="x", summary="x", file_suffixes=("GGUF",))
    with pytest.raises(ValueError, match="folder 'nope' is not 'module:attribute'"):
        ModelSpec(name="x", summary="x", folder="nope")
    assert ModelSpec(name="x", summary="x").factory == "tunekite.models.loader:load_hf"


def test_importing_the_models_package_is_light() -> None:
    code = "import sys, tunekite.models; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- quantizers (--quant_method) -------------------------------------------------------


def test_selected_quantizer_gives_from_pretrained_kwargs(tk_plugins, tiny_folder) -> None:
    import dataclasses

    import torch

    from tunekite.arguments.fields import arg
    from tunekite.registrations import QuantizerSpec

    @dataclasses.dataclass(kw_only=True)
    class HalfArguments:
        half_dtype: str = arg("float16", help="dtype the fake quantizer loads in")

    calls = []

    def half(args, run):
        calls.append((args, run.quant_bits))
        return {"dtype": getattr(torch, args.half_dtype), "device_map": "cpu"}

    @hookimpl
    def tk_register_quantizers(register):
        register(QuantizerSpec(name="half", summary="Half precision", args=HalfArguments, factory=half))

    tk_plugins.add(plugin(tk_register_quantizers=tk_register_quantizers), name="half")
    argv = ["--model", str(tiny_folder), "--tuner", "full", "--quant_method", "half", "--quant_bits", "8"]
    run, _ = resolve("sft", [*argv, "--half_dtype", "float32"])
    model, _ = load_model(run)
    assert next(model.parameters()).dtype == torch.float32  # saved in bfloat16: the quantizer's dtype won
    assert [(type(a).__name__, a.half_dtype, bits) for a, bits in calls] == [("HalfArguments", "float32", 8)]
    model, _ = load_model(run, dtype=torch.float16)  # the caller's kwargs win over the quantizer's
    assert next(model.parameters()).dtype == torch.float16


def test_quant_method_without_its_plugin_names_what_to_install(tk_plugins, tiny_folder) -> None:
    with pytest.raises(ArgumentError) as info:
        resolve("sft", ["--model", str(tiny_folder), "--quant_method", "bnb", "--quant_bits", "4",
                        "--bnb_4bit_quant_type", "nf4"])  # fmt: skip
    message = str(info.value)
    assert "\n" not in message and message.startswith("--quant_method: Unknown quantizer 'bnb'")
    assert "pip install tunekite-bnb" in message


def test_quant_bits_without_a_quantizer_is_refused(tk_plugins, tiny_folder) -> None:
    with pytest.raises(ArgumentError, match=r"--quant_bits is read by the selected quantizer.*--quant_meth"):
        resolve("sft", ["--model", str(tiny_folder), "--tuner", "full", "--quant_bits", "4"])


def test_a_remote_code_model_type_passes_trust_remote_code_everywhere(
    tk_plugins, tiny_folder, monkeypatch
) -> None:
    """`ModelSpec.trust_remote_code` reaches the config, the tokenizer and the weights."""
    import transformers

    seen: dict[str, object] = {}
    for auto in ("AutoConfig", "AutoTokenizer", "AutoModelForCausalLM"):
        cls = getattr(transformers, auto)
        real = cls.from_pretrained.__func__

        def spy(klass, *args, _auto=auto, _real=real, **kwargs):
            seen[_auto] = kwargs.get("trust_remote_code")
            return _real(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    spec = ModelSpec(name="remote-type", summary="ships code", architectures=("X",), trust_remote_code=True)
    tk_plugins.add(models_plugin(spec))
    load_model(ModelArguments(model=str(tiny_folder), model_type="remote-type"), host=get_host())
    assert seen == {"AutoConfig": True, "AutoTokenizer": True, "AutoModelForCausalLM": True}
    seen.clear()
    load_tokenizer(ModelArguments(model=str(tiny_folder), model_type="remote-type"), host=get_host())
    assert seen["AutoTokenizer"] is True and "AutoModelForCausalLM" not in seen


def test_a_folder_is_typed_by_its_architectures(tk_plugins, tiny_folder, tmp_path) -> None:
    import json
    import shutil

    unique = ModelSpec(name="odd-type", summary="s", template="chatml", architectures=("OddForCausalLM",))
    tk_plugins.add(models_plugin(unique))
    folder = tmp_path / "odd"
    shutil.copytree(tiny_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["OddForCausalLM"]}))
    assert resolve_model_spec(str(folder), host=get_host()).name == "odd-type"
    # LlamaForCausalLM: no type lists it here
    assert resolve_model_spec(str(tiny_folder), host=get_host()).name == "hf"
