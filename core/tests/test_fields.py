"""`arg()` declarations, annotation classification and value conversion."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, Optional

import pytest

from tunekite.arguments.fields import ArgField, arg, arg_type, fields_of
from tunekite.errors import ArgumentError


def field_for(annotation: object, default: object = None, name: str = "opt") -> ArgField:
    return ArgField(name, arg_type(annotation), default, "help", (), None, None)


# -- arg() -------------------------------------------------------------------------


@pytest.mark.parametrize("help_text", ["", "two\nlines"])
def test_arg_requires_one_line_help(help_text: str) -> None:
    with pytest.raises(ValueError, match="one non-empty line"):
        arg(1, help=help_text)


def test_arg_rejects_blank_help() -> None:
    with pytest.raises(ValueError, match="one non-empty line"):
        arg(1, help="   ")


@pytest.mark.parametrize("mutable", [[], {}, set()])
def test_arg_rejects_mutable_default(mutable: object) -> None:
    with pytest.raises(ValueError, match="default_factory"):
        arg(mutable, help="x")


def test_arg_default_factory_gives_fresh_values() -> None:
    @dataclass(kw_only=True)
    class Args:
        items: list[str] = arg(default_factory=list, help="items")

    first, second = Args(), Args()
    first.items.append("a")
    assert second.items == []


def test_arg_metadata_reaches_fields_of() -> None:
    @dataclass(kw_only=True)
    class Args:
        tuner: str = arg("lora", aliases=("train_type",), selects="tuners", help="which tuner")

    (f,) = fields_of(Args)
    assert (f.name, f.default, f.help, f.aliases, f.selects) == (
        "tuner", "lora", "which tuner", ("train_type",), "tuners"
    )
    assert f.names == ("tuner", "train_type")


def test_fields_of_rejects_plain_dataclass_field() -> None:
    @dataclass
    class Args:
        rank: int = 8

    with pytest.raises(TypeError, match=r"Args.rank was not declared with arg"):
        list(fields_of(Args))


def test_fields_of_rejects_field_without_default() -> None:
    @dataclass(kw_only=True)
    class Args:
        rank: int = arg(help="no default")

    with pytest.raises(TypeError, match="needs a default"):
        list(fields_of(Args))


def test_fields_of_rejects_non_dataclass() -> None:
    with pytest.raises(TypeError, match="not a dataclass"):
        list(fields_of(int))


def test_fields_of_names_field_with_unsupported_type() -> None:
    @dataclass(kw_only=True)
    class Args:
        pair: tuple = arg((1, 2), help="pair")

    with pytest.raises(TypeError, match=r"Args.pair: unsupported argument type"):
        list(fields_of(Args))


# -- arg_type ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "scalar", "is_list", "optional", "choices"),
    [
        (str, str, False, False, None),
        (int | None, int, False, True, None),
        (Optional[float], float, False, True, None),  # noqa: UP045 - the old spelling must work too
        (list[str], str, True, False, None),
        (list[int] | None, int, True, True, None),
        (list[Literal["a", "b"]], str, True, False, ("a", "b")),
        (Literal[1, 2, 4], int, False, False, (1, 2, 4)),
        (Literal["x", "y"] | None, str, False, True, ("x", "y")),
        (dict, dict, False, False, None),
        (dict[str, int] | None, dict, False, True, None),
    ],
)
def test_arg_type_classifies(annotation, scalar, is_list, optional, choices) -> None:
    kind = arg_type(annotation)
    assert (kind.scalar, kind.is_list, kind.optional, kind.choices) == (scalar, is_list, optional, choices)


@pytest.mark.parametrize("annotation", [tuple, set[str], int | str, list[list[int]], bytes])
def test_arg_type_rejects_unsupported(annotation: object) -> None:
    with pytest.raises(TypeError, match="unsupported argument type"):
        arg_type(annotation)


def test_arg_type_label_shows_choices_and_lists() -> None:
    assert arg_type(list[Literal["a", "b"]]).label == "a|b ..."
    assert arg_type(int).label == "int"


# -- convert -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("True", True), ("1", True), ("yes", True), ("on", True),
     ("false", False), ("FALSE", False), ("0", False), ("no", False), ("off", False),
     (True, True), (False, False)],
)
def test_bool_spellings(text: object, expected: bool) -> None:
    assert field_for(bool, False).convert(text, "cli") is expected


def test_bool_rejects_other_text() -> None:
    with pytest.raises(ArgumentError, match=r"cli: --opt expects bool, got 'maybe'"):
        field_for(bool, False).convert("maybe", "cli")


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (" 7 ", 7), (4, 4), (2.0, 2), ("-1", -1)])
def test_int_accepts_whole_numbers(value: object, expected: int) -> None:
    result = field_for(int, 0).convert(value, "cli")
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value", ["1.5", 1.5, True, "abc"])
def test_int_rejects_fractions_bools_and_text(value: object) -> None:
    with pytest.raises(ArgumentError, match="--opt expects int"):
        field_for(int, 0).convert(value, "cli")


@pytest.mark.parametrize(("value", "expected"), [("1e-4", 1e-4), ("2", 2.0), (3, 3.0), ("0.5", 0.5)])
def test_float_conversion(value: object, expected: float) -> None:
    result = field_for(float, 0.0).convert(value, "cli")
    assert result == expected and type(result) is float


def test_float_rejects_bool() -> None:
    with pytest.raises(ArgumentError, match="expects float"):
        field_for(float, 0.0).convert(False, "x.yaml")


def test_str_rejects_mapping() -> None:
    with pytest.raises(ArgumentError, match="expects str"):
        field_for(str, "a").convert({"a": 1}, "x.yaml")


def test_dict_from_json_string() -> None:
    assert field_for(dict | None).convert('{"0": "20GB"}', "cli") == {"0": "20GB"}


def test_dict_from_json_file(tmp_path) -> None:
    path = tmp_path / "memory.json"
    path.write_text(json.dumps({"a": [1, 2]}), encoding="utf-8")
    assert field_for(dict | None).convert(str(path), "cli") == {"a": [1, 2]}


def test_dict_rejects_json_list() -> None:
    with pytest.raises(ArgumentError, match="JSON object is required"):
        field_for(dict | None).convert("[1, 2]", "cli")


def test_dict_rejects_invalid_json() -> None:
    with pytest.raises(ArgumentError, match=r"--opt expects dict, got '\{oops'"):
        field_for(dict | None).convert("{oops", "cli")


def test_literal_error_names_option_and_choices() -> None:
    f = field_for(Literal["left", "right"], "right", name="padding_side")
    with pytest.raises(ArgumentError, match=r"--padding_side must be one of left, right, got 'up'"):
        f.convert("up", "run.yaml")


def test_int_literal_converts_text_before_checking_choices() -> None:
    assert field_for(Literal[1, 2, 4, 8] | None).convert("4", "cli") == 4


def test_list_from_scalar_and_from_list() -> None:
    f = field_for(list[int], [])
    assert f.convert("3", "cli") == [3]
    assert f.convert(["1", 2], "cli") == [1, 2]


def test_list_elements_are_checked_against_choices() -> None:
    f = field_for(list[Literal["a", "b"]], [])
    with pytest.raises(ArgumentError, match="must be one of a, b"):
        f.convert(["a", "c"], "cli")


def test_none_allowed_only_for_optional_or_none_default() -> None:
    assert field_for(int | None).convert(None, "y") is None
    assert field_for(list[str] | None).convert(None, "y") is None
    assert field_for(str, None).convert(None, "y") is None
    with pytest.raises(ArgumentError, match="--opt cannot be empty"):
        field_for(int, 3).convert(None, "y")
