"""The README's "Installing from packages" tables equal what the code declares.

Core's rows come from core/pyproject.toml; each first-party plugin's row from its
pyproject.toml (dependencies and extras) and `tunekite.catalog.PROVIDERS` (what it
registers, itself checked against the real registrations by test_distributions.py).
Regenerate the block with `python tests/test_readme_install.py`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tunekite import catalog

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- install-table:start", "<!-- install-table:end -->"
CORE_PURPOSE = "`tk`, the plugin host, the argument model"


def _project(pyproject: Path) -> dict:
    return tomllib.loads(pyproject.read_text())["project"]


def _needs(project: dict) -> str:
    needs = []
    for requirement in project["dependencies"]:
        if requirement.startswith("tunekite["):
            needs.append(f"`{requirement.split(']')[0]}]`")
        elif not requirement.startswith("tunekite"):
            needs.append(requirement)
    for extra, requirements in project.get("optional-dependencies", {}).items():
        needs.append(f"extra `[{extra}]`: {', '.join(requirements)}")
    return "; ".join(needs) or "—"


def render() -> str:
    """The block between the markers, as the code says it should be."""
    core = _project(ROOT / "core/pyproject.toml")
    lines = ["| install | brings |", "|---|---|"]
    lines.append(f"| `tunekite` | {', '.join(core['dependencies'])}: {CORE_PURPOSE} |")
    for extra, requirements in sorted(core["optional-dependencies"].items()):
        lines.append(f"| `tunekite[{extra}]` | {', '.join(requirements)} |")
    lines += ["", "| distribution | registers | needs |", "|---|---|---|"]
    provided: dict[str, dict[str, list[str]]] = {}
    for kind, names in catalog.PROVIDERS.items():
        for name, dist in names.items():
            provided.setdefault(dist, {}).setdefault(kind, []).append(name)
    projects = sorted((_project(p) for p in ROOT.glob("plugins/*/*/pyproject.toml")), key=lambda p: p["name"])
    for project in projects:
        kinds = provided.get(project["name"], {})
        registers = "; ".join(
            f"{kind.replace('_', ' ')}: {', '.join(f'`{n}`' for n in names)}" for kind, names in kinds.items()
        )
        lines.append(f"| `{project['name']}` | {registers} | {_needs(project)} |")
    return "\n".join(lines)


def _readme_block(text: str) -> str:
    start = text.index(START)
    body = text[text.index("\n", start) + 1 : text.index(END)]
    return body.rstrip("\n")


def test_install_tables_match_the_code() -> None:
    expected = render()
    assert _readme_block((ROOT / "README.md").read_text()) == expected, (
        "README install tables are stale; run `python tests/test_readme_install.py`:\n" + expected
    )


def test_every_first_party_plugin_has_a_row() -> None:
    block = _readme_block((ROOT / "README.md").read_text())
    rows = set(re.findall(r"^\| `(tunekite-[a-z0-9-]+)` \|", block, re.M))
    names = {_project(p)["name"] for p in ROOT.glob("plugins/*/*/pyproject.toml")}
    assert rows == names


if __name__ == "__main__":
    readme = ROOT / "README.md"
    text = readme.read_text()
    old = _readme_block(text)
    readme.write_text(text.replace(old, render(), 1))
