"""The generated parser: spellings, layers and their precedence, and its errors."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from tunekite.arguments.fields import arg
from tunekite.arguments.parser import ArgumentSet, Group, Layer, preparse, read_args_json, read_config
from tunekite.errors import ArgumentError


@dataclass(kw_only=True)
class Alpha:
    lora_rank: int = arg(8, help="rank")
    tuner: str = arg("lora", aliases=("train_type", "sft_type"), help="tuner")
    use_dora: bool = arg(False, help="dora")
    dataset: list[str] = arg(default_factory=list, help="datasets")
    side: Literal["left", "right"] = arg("right", help="side")


@dataclass(kw_only=True)
class Beta:
    learning_rate: float | None = arg(None, help="lr")
    max_memory: dict | None = arg(None, help="memory")

    def __post_init__(self) -> None:
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")


@dataclass(kw_only=True)
class Clash:
    lora_rank: int = arg(4, help="same name as Alpha's")


def argset() -> ArgumentSet:
    return ArgumentSet([Group("alpha", "Alpha", Alpha), Group("beta", "Beta", Beta, owner="dist-beta")])


def no_owner(name: str) -> None:
    return None


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- spellings ---------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--lora_rank", "--lora-rank"])
def test_underscore_and_dashed_spellings(option: str) -> None:
    assert argset().parse([option, "16"], [])["lora_rank"] == 16


def test_equals_form() -> None:
    assert argset().parse(["--lora-rank=2"], [])["lora_rank"] == 2


@pytest.mark.parametrize("option", ["--train_type", "--sft_type", "--train-type", "--tuner"])
def test_aliases_set_the_canonical_field(option: str) -> None:
    values = argset().parse([option, "full"], [])
    assert values["tuner"] == "full"
    assert "train_type" not in values


def test_bool_flag_without_value_means_true() -> None:
    assert argset().parse(["--use_dora"], [])["use_dora"] is True


def test_bool_flag_with_explicit_value() -> None:
    assert argset().parse(["--use_dora", "false"], [])["use_dora"] is False


def test_list_takes_several_values() -> None:
    values = argset().parse(["--dataset", "a.jsonl", "b.jsonl", "--lora_rank", "2"], [])
    assert values["dataset"] == ["a.jsonl", "b.jsonl"]
    assert values["lora_rank"] == 2


def test_list_with_no_values_is_empty() -> None:
    assert argset().parse(["--dataset"], [Layer("y", {"dataset": ["x"]}, strict=True)])["dataset"] == []


def test_negative_int_value() -> None:
    assert argset().parse(["--lora_rank", "-1"], [])["lora_rank"] == -1


def test_defaults_when_nothing_given() -> None:
    values = argset().parse([], [])
    assert values == {
        "lora_rank": 8, "tuner": "lora", "use_dora": False, "dataset": [], "side": "right",
        "learning_rate": None, "max_memory": None,
    }


def test_cli_value_errors_name_the_option() -> None:
    with pytest.raises(ArgumentError, match=r"command line: --side must be one of left, right"):
        argset().parse(["--side", "up"], [])


# -- unknown and duplicate names ---------------------------------------------------


def test_unknown_option_suggests_closest() -> None:
    with pytest.raises(ArgumentError, match=r"unknown argument --lora_rnak\. Did you mean --lora_rank\?"):
        argset().parse(["--lora-rnak", "4"], [], on_unknown=no_owner)


def test_unknown_option_explained_by_owner() -> None:
    with pytest.raises(ArgumentError, match=r"--reft_layers: belongs elsewhere"):
        argset().parse(["--reft_layers", "1"], [], on_unknown=lambda n: "belongs elsewhere")


def test_unknown_options_left_alone_without_on_unknown() -> None:
    assert argset().parse(["--later", "1", "--lora_rank", "3"], [])["lora_rank"] == 3


def test_stray_positional_value_is_an_error() -> None:
    with pytest.raises(ArgumentError, match="unexpected value"):
        argset().parse(["stray"], [], on_unknown=no_owner)


def test_abbreviations_are_not_accepted() -> None:
    with pytest.raises(ArgumentError, match="unknown argument --lora_r"):
        argset().parse(["--lora_r", "4"], [], on_unknown=no_owner)


def test_duplicate_field_across_groups_names_both() -> None:
    expected = r"--lora_rank is declared by both Alpha \(tunekite\) and Clash \(dist-c\)"
    with pytest.raises(ArgumentError, match=expected):
        ArgumentSet([Group("alpha", "Alpha", Alpha), Group("clash", "Clash", Clash, owner="dist-c")])


def test_field_lookup_by_any_spelling() -> None:
    s = argset()
    assert s.field("--train-type").name == "tuner"
    assert s.field("nope") is None


@dataclass(kw_only=True)
class SelfClash:
    a: int = arg(1, aliases=("b",), help="a")
    b: int = arg(2, help="b")


def test_alias_clash_within_one_group_is_an_argument_error() -> None:
    with pytest.raises(ArgumentError, match="--b"):
        ArgumentSet([Group("g", "G", SelfClash)]).parse([], [])


def test_alias_clash_within_one_group_does_not_pass_silently() -> None:
    with pytest.raises((ArgumentError, argparse.ArgumentError)):
        ArgumentSet([Group("g", "G", SelfClash)]).parse([], [])


# -- layers and precedence ---------------------------------------------------------


def test_precedence_defaults_args_json_yaml_cli() -> None:
    layers = [
        Layer("args.json", {"lora_rank": 2, "tuner": "a", "side": "left"}, strict=False),
        Layer("run.yaml", {"lora_rank": 3, "tuner": "b"}, strict=True),
    ]
    values = argset().parse(["--lora_rank", "4"], layers)
    got = (values["lora_rank"], values["tuner"], values["side"], values["use_dora"])
    assert got == (4, "b", "left", False)


def test_unknown_yaml_key_names_the_file() -> None:
    layer = Layer("run.yaml", {"lora_rnk": 3}, strict=True)
    expected = r"^run.yaml: unknown argument --lora_rnk\. Did you mean --lora_rank"
    with pytest.raises(ArgumentError, match=expected):
        argset().parse([], [layer], on_unknown=no_owner)


def test_unknown_args_json_key_is_ignored() -> None:
    layer = Layer("args.json", {"other_command_option": 1, "lora_rank": 5}, strict=False)
    assert argset().parse([], [layer], on_unknown=no_owner)["lora_rank"] == 5


def test_bad_layer_value_names_the_source() -> None:
    with pytest.raises(ArgumentError, match=r"run.yaml: --lora_rank expects int"):
        argset().parse([], [Layer("run.yaml", {"lora_rank": "eight"}, strict=True)])


def test_yaml_alias_key_sets_canonical_field() -> None:
    assert argset().parse([], [Layer("y", {"train_type": "full"}, strict=True)])["tuner"] == "full"


# -- read_config / read_args_json --------------------------------------------------


def test_read_config_normalizes_dashed_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "run.yaml", "lora-rank: 4\ndataset: [a, b]\n")
    assert read_config(path) == {"lora_rank": 4, "dataset": ["a", "b"]}


def test_read_config_empty_file_is_empty(tmp_path: Path) -> None:
    assert read_config(write(tmp_path / "run.yaml", "")) == {}


def test_read_config_rejects_non_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "run.yaml", "- a\n- b\n")
    with pytest.raises(ArgumentError, match=r"run.yaml: expected a mapping"):
        read_config(path)


def test_read_config_rejects_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "run.yaml", "a: [1, 2\n")
    with pytest.raises(ArgumentError, match=r"run.yaml: not valid YAML"):
        read_config(path)


def test_read_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match=r"-c/--config: no such file: .*nope.yaml"):
        read_config(str(tmp_path / "nope.yaml"))


def test_read_args_json_from_folder_drops_manifest(tmp_path: Path) -> None:
    write(tmp_path / "args.json", json.dumps({"lora_rank": 4, "tunekite": {"command": "sft"}}))
    file, values = read_args_json(str(tmp_path))
    assert file == tmp_path / "args.json"
    assert values == {"lora_rank": 4}


def test_read_args_json_missing(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match=r"--load_args: .*args\.json"):
        read_args_json(str(tmp_path))


@pytest.mark.parametrize(("text", "message"), [("{oops", "not valid JSON"), ("[1]", "expected a")])
def test_read_args_json_rejects_bad_content(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ArgumentError, match=rf"args\.json: {message}"):
        read_args_json(write(tmp_path / "args.json", text))


# -- preparse ----------------------------------------------------------------------


def test_preparse_orders_args_json_below_yaml(tmp_path: Path) -> None:
    write(tmp_path / "args.json", json.dumps({"lora_rank": 1}))
    config = write(tmp_path / "run.yaml", "lora_rank: 2\n")
    ns, layers = preparse(["--load_args", str(tmp_path), "-c", config, "--lora_rank", "3"])
    assert [(layer.strict, layer.values["lora_rank"]) for layer in layers] == [(False, 1), (True, 2)]
    assert ns.config == config
    assert argset().parse(["--lora_rank", "3"], layers)["lora_rank"] == 3
    assert argset().parse([], layers)["lora_rank"] == 2


def test_preparse_load_args_named_in_yaml(tmp_path: Path) -> None:
    write(tmp_path / "args.json", json.dumps({"side": "left"}))
    config = write(tmp_path / "run.yaml", f"load_args: {tmp_path}\n")
    _, layers = preparse(["--config", config])
    assert argset().parse([], layers)["side"] == "left"


def test_preparse_custom_register_path_from_cli_and_alias() -> None:
    ns, _ = preparse(["--external-plugins", "a.py", "b.py", "--x", "1"])
    assert ns.custom_register_path == ["a.py", "b.py"]


def test_preparse_custom_register_path_from_yaml(tmp_path: Path) -> None:
    config = write(tmp_path / "run.yaml", "custom_register_path: one.py\n")
    ns, _ = preparse(["-c", config])
    assert ns.custom_register_path == ["one.py"]


def test_preparse_help_flag() -> None:
    assert preparse(["--tuner", "x", "-h"])[0].help is True
    assert preparse(["--tuner", "x"])[0].help is False


def test_preparse_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match="no such file"):
        preparse(["-c", str(tmp_path / "missing.yaml")])


def test_list_defaults_are_not_shared_between_runs() -> None:
    s = argset()
    s.build(s.parse([], []))["alpha"].dataset.append("leaked")
    assert s.parse([], [])["dataset"] == []
    assert Alpha().dataset == []


# -- build -------------------------------------------------------------------------


def test_build_instantiates_each_group() -> None:
    s = argset()
    groups = s.build(s.parse(["--learning_rate", "0.1", "--max_memory", '{"0": "1GB"}'], []))
    assert isinstance(groups["alpha"], Alpha) and groups["alpha"].lora_rank == 8
    assert groups["beta"].learning_rate == 0.1
    assert groups["beta"].max_memory == {"0": "1GB"}


def test_build_wraps_post_init_error_with_group_title() -> None:
    s = argset()
    with pytest.raises(ArgumentError, match=r"^Beta: learning_rate must be positive, got -1.0"):
        s.build(s.parse(["--learning_rate=-1"], []))
