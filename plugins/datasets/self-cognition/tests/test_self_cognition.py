"""The self-cognition dataset: conformance, placeholder filling, missing arguments."""

from __future__ import annotations

import json
import re

import pytest

from tunekite.api import ArgumentError
from tunekite.testing import DatasetConformance

NAMES = {"model_name": ["小风筝", "Kite"], "model_author": ["风筝团队", "Acme"]}
_HAN = re.compile(r"[\u4e00-\u9fff]")


class TestSelfCognition(DatasetConformance):
    name = "self-cognition"
    data_overrides = NAMES


def _load(dataset: str = "self-cognition", **overrides) -> list[dict]:
    suite = TestSelfCognition()
    suite.data_overrides = overrides
    return suite.load_rows(dataset)


def _text(row: dict) -> str:
    return " ".join(m["content"] for m in row["messages"])


def test_placeholders_are_filled_per_language() -> None:
    zh, en = _load("self-cognition:zh", **NAMES), _load("self-cognition:en", **NAMES)
    assert len(zh) >= 50 and len(en) >= 50
    assert all(_HAN.search(r["messages"][0]["content"]) for r in zh)
    assert not any(_HAN.search(_text(r)) for r in en)
    for row in zh + en:
        assert "{{" not in _text(row)
    assert any("小风筝" in _text(r) for r in zh) and any("风筝团队" in _text(r) for r in zh)
    assert not any("Kite" in _text(r) or "Acme" in _text(r) for r in zh)
    assert any("Kite" in _text(r) for r in en) and any("Acme" in _text(r) for r in en)


def test_default_is_both_subsets_and_sampling_applies() -> None:
    both = _load(**NAMES)
    assert len(both) == len(_load("self-cognition:zh", **NAMES)) + len(_load("self-cognition:en", **NAMES))
    assert len(_load("self-cognition#500", **NAMES)) == 500


def test_one_name_serves_both_languages() -> None:
    rows = _load(model_name=["Kite"], model_author=["Acme"])
    assert any("Kite" in _text(r) for r in rows if _HAN.search(_text(r)))


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({}, ["--model_name", "--model_author"]),
        ({"model_name": ["小风筝", "Kite"]}, ["--model_author"]),
        ({"model_author": ["风筝团队", "Acme"]}, ["--model_name"]),
    ],
)
def test_missing_names_are_a_clear_error(overrides: dict, missing: list[str]) -> None:
    with pytest.raises(ArgumentError) as err:
        _load(**overrides)
    for option in missing:
        assert option in str(err.value)
    assert "self-cognition" in str(err.value)


def test_unknown_subset_names_the_choices() -> None:
    with pytest.raises(Exception, match=r"no subset 'fr'.*zh, en"):
        _load("self-cognition:fr", **NAMES)


def test_shipped_rows_are_balanced_and_use_both_placeholders() -> None:
    from tunekite_self_cognition.data import DATA

    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 110
    counts = {lang: sum(r["subset"] == lang for r in rows) for lang in ("zh", "en")}
    assert abs(counts["zh"] - counts["en"]) <= 10, counts
    assert all("{{NAME}}" in r["response"] or "{{AUTHOR}}" in r["response"] for r in rows)
    assert len({r["query"] for r in rows}) == len(rows), "duplicate questions"
