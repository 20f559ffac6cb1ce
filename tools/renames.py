"""Re-apply issue 13's renames to code written against the old names.

    python tools/renames.py [PATH ...]     (default: the repository root)

Every module rename is listed once in MODULES (old dotted module -> new dotted module)
and applied with word-boundary regexes to the dotted form (`tunekite.run.Run`, a
`monkeypatch.setattr("tunekite.plugins.get_host", ...)` string) and the path form
(`core/tunekite/templates/engine.py` in bench/mutants.toml). NAMES are the renamed
identifiers, literals and moved imports. Re-running it is harmless: no new name
contains an old one. Run `ruff check --fix .` afterwards: rewritten imports may need
sorting again.

Not mechanical, so not here (see the commits of branch `layers`): a TemplateSpec takes
`format=FMT` instead of `name=`/`factory=FMT.build`; `FMT.build(tok, args)` became
`Template.create(FMT, tok, args, loss_scale=...)`; resolvers take the run's host
(`run.plugin_host`, or `host=`) instead of calling `get_host()`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MODULES: dict[str, str] = {
    # "run" named a module, a class, an argument group, a command and a recipe function
    "tunekite.run": "tunekite.launcher",
    # "engine" named the template encoder and the inference engines (tunekite.engines)
    "tunekite.templates.engine": "tunekite.templates.encoder",
    # "spec" named hook specs (tunekite.hookspecs) and registration specs
    "tunekite.specs": "tunekite.registrations",
    # the folder of trainer recipes matches its kind's name, `trainers`
    "tunekite.recipes": "tunekite.trainers",
    # the layer the one-way dependencies name: the plugin host
    "tunekite.plugins": "tunekite.plugin_host",
}

NAMES: dict[str, str] = {
    # the argument group every `tk run` takes was also called "run"
    r"\bRunArguments\b": "CommonArguments",
    r'groups\["run"\]': 'groups["common"]',
    # the sft/pt recipe function was `run(run)`
    r"\btunekite\.trainers\.sft:run\b": "tunekite.trainers.sft:train",
    # tunekite.launcher's resolve/start now take the host; code that relied on the
    # process-wide default imports them from tunekite.api, which keeps that default
    r"(?m)^(\s*)from tunekite\.launcher import (resolve|start|resolve, start)$": (
        r"\1from tunekite.api import \2"
    ),
    # loading a saved adapter moved next to the other peft helpers, so engines need no task
    r"(?m)^(\s*)from tunekite\.tasks\.loading import (ADAPTER_CONFIG|apply_adapter)$": (
        r"\1from tunekite.tuners import \2"
    ),
    # the core tests that follow the modules they test
    r"\bcore/tests/test_run\.py\b": "core/tests/test_launcher.py",
    r"\bcore/tests/test_template_engine\.py\b": "core/tests/test_template_encoder.py",
}

SUFFIXES = (".py", ".toml", ".md", ".cfg", ".ini", ".txt", ".yaml", ".yml")
SKIP = {".git", ".venv", ".venv-vllm", ".venv-min", "node_modules", "output", "results"}


def _patterns() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for old, new in MODULES.items():
        out.append((re.compile(rf"(?<![\w.]){re.escape(old)}\b"), new))
        old_path, new_path = old.replace(".", "/"), new.replace(".", "/")
        out.append((re.compile(rf"(?<![\w]){re.escape(old_path)}(?=\.py\b|/)"), new_path))
    out += [(re.compile(old), new) for old, new in NAMES.items()]
    return out


def rewrite(text: str) -> str:
    for pattern, new in _patterns():
        text = pattern.sub(new, text)
    return text


def files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return [
        p
        for p in root.rglob("*")
        if p.is_file()
        and (p.suffix in SUFFIXES or p.name == "Makefile")
        and not SKIP & set(p.relative_to(root).parts)
        and p.resolve() != Path(__file__).resolve()
    ]


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path(__file__).resolve().parent.parent]
    changed = 0
    for root in roots:
        for path in files(root):
            text = path.read_text(encoding="utf-8")
            new = rewrite(text)
            if new != text:
                path.write_text(new, encoding="utf-8")
                changed += 1
                print(path)
    print(f"{changed} file(s) rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
