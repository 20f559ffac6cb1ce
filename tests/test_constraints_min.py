"""constraints-min.txt pins exactly the lowest versions that the distributions of the
`make test-min` job (the Makefile's MIN_DISTRIBUTIONS) declare, so the CI job that installs
it tests the floors users can get."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _min_distributions() -> list[Path]:
    """The folders the Makefile's MIN_DISTRIBUTIONS names (a continued `:=` assignment)."""
    makefile = (ROOT / "Makefile").read_text()
    found = re.search(r"^MIN_DISTRIBUTIONS := ((?:.*\\\n)*.*)$", makefile, re.M)
    assert found, "no MIN_DISTRIBUTIONS in the Makefile"
    return [ROOT / name for name in found.group(1).replace("\\", " ").split()]


def _declared_floors() -> dict[str, set[str]]:
    """Every `name>=X` in the job's distributions' dependencies or extras: name -> {X, ...}."""
    floors: dict[str, set[str]] = {}
    for pyproject in (folder / "pyproject.toml" for folder in _min_distributions()):
        project = tomllib.loads(pyproject.read_text())["project"]
        extras = project.get("optional-dependencies", {}).values()
        for requirement in [*project["dependencies"], *(r for reqs in extras for r in reqs)]:
            found = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?[^;]*?>=\s*([0-9][^,;\s]*)", requirement)
            if found:
                floors.setdefault(found.group(1).lower(), set()).add(found.group(2))
    return floors


def _pins() -> dict[str, str]:
    lines = (ROOT / "constraints-min.txt").read_text().splitlines()
    pairs = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip().lower(): version.strip() for name, version in pairs}


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def test_min_constraints_pin_the_declared_floors() -> None:
    floors = _declared_floors()
    pins = _pins()
    assert set(pins) >= {"transformers", "peft", "datasets", "accelerate"}
    for name, pinned in pins.items():
        assert name in floors, f"constraints-min.txt pins {name}, which nothing declares a floor for"
        highest = max(floors[name], key=_release)
        assert _release(pinned) == _release(highest), (
            f"{name}: constraints-min.txt pins {pinned}, but the highest floor declared is {highest}"
        )
