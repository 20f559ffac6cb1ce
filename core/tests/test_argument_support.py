"""Arguments nothing would read stop the run at resolve time, naming the argument and why."""

from __future__ import annotations

import pytest

from tunekite import hookimpl
from tunekite.api import resolve
from tunekite.arguments.fields import fields_of
from tunekite.arguments.groups import CORE_GROUPS
from tunekite.errors import ArgumentError
from tunekite.registrations import TrainerSpec

BASE = ["--model", "some/model", "--tuner", "full"]

REFUSED = [
    ("use_hf", "false", "not built yet: TuneKite reads only the HuggingFace hub"),
    ("local_repo_path", "/tmp/repo", "not built yet"),
    ("check_model", "true", "not built yet"),
    ("max_pixels", "1024", "TuneKite has no multimodal (vision) models"),
    ("sequence_parallel_size", "2", "not built yet: sequence parallelism"),
    ("freeze_llm", "true", "TuneKite has no multimodal (vision) models"),
    ("freeze_vit", "false", "TuneKite has no multimodal (vision) models"),
    ("freeze_aligner", "false", "TuneKite has no multimodal (vision) models"),
    ("push_to_hub", "true", "not built yet"),
    ("hub_model_id", "me/kite", "goes with --push_to_hub"),
    ("hub_private_repo", "true", "goes with --push_to_hub"),
    ("remove_unused_columns", "true", "nothing to drop"),
    ("loss_type", "ipo", "sft and pt train on the template-weighted cross-entropy"),
]


@pytest.mark.parametrize(("name", "value", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_value_nothing_reads_is_refused_with_the_reason(tk_plugins, name, value, reason) -> None:
    with pytest.raises(ArgumentError) as info:
        resolve("sft", [*BASE, f"--{name}", value])
    assert str(info.value).startswith(f"--{name}: ") and reason in str(info.value)
    assert "\n" not in str(info.value)


def test_the_defaults_of_refused_arguments_still_parse(tk_plugins) -> None:
    """ms-swift scripts pass `--use_hf true --check_model false`: the values TuneKite has."""
    defaults = [
        "--use_hf",
        "true",
        "--check_model",
        "false",
        "--freeze_vit",
        "true",
        "--sequence_parallel_size",
        "1",
    ]
    run, _ = resolve("sft", [*BASE, *defaults])
    assert run.use_hf and not run.check_model


def test_every_refused_core_argument_is_tested_here() -> None:
    refused = {f.name for group in CORE_GROUPS.values() for f in fields_of(group) if f.unsupported}
    assert refused == {name for name, _, _ in REFUSED} - {"loss_type"}  # loss_type: sft's rejects


def test_a_runnable_refuses_what_it_does_not_read_but_another_reads(tk_plugins) -> None:
    @hookimpl
    def tk_register_trainers(register):
        register(
            TrainerSpec(
                name="lossy",
                summary="Reads --loss_type",
                groups=("model", "tuner", "training"),
                factory=lambda run: run.loss_type,
            )
        )

    tk_plugins.add(type("Lossy", (), {"tk_register_trainers": staticmethod(tk_register_trainers)}))
    run, _ = resolve("lossy", [*BASE, "--loss_type", "ipo"])
    assert run.loss_type == "ipo"
    with pytest.raises(ArgumentError, match=r"^--loss_type: "):
        resolve("pt", [*BASE, "--loss_type", "ipo"])


def test_a_selected_component_refuses_core_arguments_it_does_not_read(tk_plugins) -> None:
    with pytest.raises(ArgumentError) as info:
        resolve("sft", [*BASE, "--target_modules", "q_proj"])
    assert str(info.value).startswith("--target_modules: tuner 'full' does not read it: ")
    assert "--trainable_parameters" in str(info.value)
