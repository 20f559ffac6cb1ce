"""`--deepspeed` and `--fsdp` select a parallelism whose factory sets transformers'
training fields; FSDP is refused on CPU (accelerate would train unsharded DDP instead) and
its settings are read around that. DeepSpeed itself is tested in its plugin and tests/test_zero.py."""

from __future__ import annotations

import json

import pytest

from tunekite import hookimpl
from tunekite.api import resolve
from tunekite.builtins.fsdp import fsdp_fields
from tunekite.errors import ArgumentError
from tunekite.registrations import ParallelismSpec
from tunekite.training.parallelism import before_model, parallelism_fields

BASE = ["--model", "some/model", "--tuner", "full"]


def run_with(*extra: str):
    return resolve("sft", [*BASE, *extra])[0]


def test_fsdp_settings_are_read_from_json_text_or_a_file(tk_plugins, tmp_path) -> None:
    inline = run_with("--fsdp", "full_shard auto_wrap", "--fsdp_config", '{"min_num_params": 100}')
    assert fsdp_fields(inline, cuda=True) == {
        "fsdp": "full_shard auto_wrap",
        "fsdp_config": {"min_num_params": 100},
    }
    file = tmp_path / "fsdp.json"
    file.write_text(json.dumps({"transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]}))
    from_file = run_with("--fsdp", "full_shard", "--fsdp_config", str(file))
    assert fsdp_fields(from_file, cuda=True)["fsdp_config"] == {
        "transformer_layer_cls_to_wrap": ["LlamaDecoderLayer"]
    }
    for bad, why in ((str(tmp_path / "none.json"), "no such file"), ("{nope", "not valid JSON")):
        with pytest.raises(ArgumentError, match=f"--fsdp_config .*{why}"):
            fsdp_fields(run_with("--fsdp", "full_shard", "--fsdp_config", bad), cuda=True)
    with pytest.raises(ArgumentError, match="--fsdp_config is read with --fsdp"):
        fsdp_fields(run_with("--fsdp_config", "{}"), cuda=True)


def test_fsdp_is_refused_on_cpu_before_the_model_loads(tk_plugins) -> None:
    run = run_with("--fsdp", "full_shard auto_wrap")
    assert [s.name for s in run.components["parallelisms"]] == ["fsdp"]
    with pytest.raises(
        ArgumentError, match=r"--fsdp needs GPUs: .* unsharded DDP run instead; use --deepspeed zero3"
    ):
        before_model(run)  # this machine has no CUDA


def test_a_parallelism_sets_training_fields_and_two_are_refused(tk_plugins) -> None:
    seen = []

    class Fake:
        @hookimpl
        def tk_register_parallelisms(self, register):
            register(
                ParallelismSpec(
                    name="deepspeed",
                    summary="fake",
                    factory=lambda args, run: {"deepspeed": {"stage": run.deepspeed}},
                    before_model=lambda args, run: seen.append(run.deepspeed),
                )
            )

    tk_plugins.add(Fake())
    run = run_with("--deepspeed", "zero2")
    before_model(run)
    assert seen == ["zero2"] and parallelism_fields(run) == {"deepspeed": {"stage": "zero2"}}
    assert parallelism_fields(run_with()) == {}
    with pytest.raises(ArgumentError, match="--deepspeed and --fsdp both shard the model; choose one"):
        parallelism_fields(run_with("--deepspeed", "zero2", "--fsdp", "full_shard"))


def test_without_the_plugin_deepspeed_names_what_to_install(tk_plugins) -> None:
    with pytest.raises(ArgumentError) as info:
        run_with("--deepspeed", "zero2")
    message = str(info.value)
    assert message.startswith("--deepspeed: Unknown parallelism 'deepspeed'.") and "\n" not in message
    assert "'deepspeed' is provided by tunekite-deepspeed: pip install tunekite-deepspeed" in message
