"""Mutation check of the core guarantees (`make mutate`; not part of CI).

Copies the working tree (tracked and untracked, not ignored files) to a temporary folder,
then for each mutant of `bench/mutants.toml` breaks the code there as the table says, runs
that mutant's tests against the copy (its packages shadow the editable installs through
PYTHONPATH) and restores the file. A mutant no test catches "survives"; the run fails if
any survives, if a snippet is not found exactly once (the code moved: update the table), or
if the unbroken copy already fails the tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "bench" / "mutants.toml"


@dataclass(frozen=True)
class Edit:
    file: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    name: str
    breaks: str
    tests: tuple[str, ...]
    edits: tuple[Edit, ...]


def read_table(path: Path) -> list[Mutant]:
    rows = tomllib.loads(path.read_text(encoding="utf-8"))["mutant"]
    return [
        Mutant(row["name"], row["breaks"], tuple(row["tests"]), tuple(Edit(**e) for e in row["edit"]))
        for row in rows
    ]


def check_snippets(mutants: list[Mutant], tree: Path) -> list[str]:
    """Every edit's `old` text, found exactly once in its file: the problems, if not."""
    problems = []
    for mutant in mutants:
        for edit in mutant.edits:
            path = tree / edit.file
            count = path.read_text(encoding="utf-8").count(edit.old) if path.is_file() else -1
            if count != 1:
                found = "no such file" if count < 0 else f"found {count} times"
                problems.append(f"{mutant.name}: {edit.file}: {found}: {edit.old.strip()!r}")
    return problems


def copy_tree(target: Path) -> None:
    """The files git would commit (tracked or new, not ignored), as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def environment(tree: Path) -> dict[str, str]:
    """Imports resolve to the copy: each distribution's folder first on PYTHONPATH. No
    bytecode is written, so a restored file is never shadowed by its mutant's .pyc."""
    folders = [tree / "core", *sorted(p.parent for p in tree.glob("plugins/*/*/pyproject.toml"))]
    folders += sorted(p.parent for p in tree.glob("examples/plugins/*/pyproject.toml"))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, folders), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_tests(tests: tuple[str, ...], tree: Path, env: dict[str, str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=tree, env=env, capture_output=True, text=True,
    )  # fmt: skip
    return result.returncode, time.perf_counter() - started, result.stdout + result.stderr


def apply(mutant: Mutant, tree: Path) -> dict[Path, str]:
    """Break the copy; returns the original text of each changed file."""
    originals: dict[Path, str] = {}
    for edit in mutant.edits:
        path = tree / edit.file
        originals.setdefault(path, path.read_text(encoding="utf-8"))
        path.write_text(path.read_text(encoding="utf-8").replace(edit.old, edit.new, 1), encoding="utf-8")
    return originals


def last_lines(output: str, count: int = 15) -> str:
    return "\n".join("    " + line for line in output.strip().splitlines()[-count:])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="only these mutants (default: all)")
    parser.add_argument("--table", type=Path, default=TABLE)
    options = parser.parse_args()

    mutants = read_table(options.table)
    unknown = set(options.names) - {m.name for m in mutants}
    if unknown:
        print(f"unknown mutants: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    mutants = [m for m in mutants if not options.names or m.name in options.names]
    problems = check_snippets(mutants, ROOT)
    if problems:
        print("snippets not found exactly once (the code moved; update bench/mutants.toml):", file=sys.stderr)
        print("\n".join(f"  {p}" for p in problems), file=sys.stderr)
        return 2

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tk-mutate-") as folder:
        tree = Path(folder)
        copy_tree(tree)
        env = environment(tree)
        print(f"copy of the tree: {tree}")

        baseline = tuple(dict.fromkeys(t for m in mutants for t in _paths(m.tests)))
        code, seconds, output = run_tests(baseline, tree, env)
        print(f"baseline: {len(baseline)} test files, unbroken, exit {code} in {seconds:.0f} s")
        if code != 0:
            print("the unbroken copy fails its tests:\n" + last_lines(output), file=sys.stderr)
            return 1

        survived, errors = [], []
        for mutant in mutants:
            originals = apply(mutant, tree)
            try:
                code, seconds, output = run_tests(mutant.tests, tree, env)
            finally:
                for path, text in originals.items():
                    path.write_text(text, encoding="utf-8")
            verdict = {0: "SURVIVED", 1: "killed"}.get(code, f"ERROR (pytest exit {code})")
            print(f"{verdict:>22}  {mutant.name:<40} {seconds:5.0f} s  {mutant.breaks}", flush=True)
            if code == 0:
                survived.append(mutant.name)
            elif code != 1:  # 2: collection error, 5: no test selected (renamed?)
                errors.append(mutant.name)
                print(last_lines(output), flush=True)

    total = time.perf_counter() - started
    print(f"{len(mutants)} mutants: {len(mutants) - len(survived) - len(errors)} killed, "
          f"{len(survived)} survived, {len(errors)} errors, in {total:.0f} s")  # fmt: skip
    if survived:
        print(f"no test caught: {', '.join(survived)}", file=sys.stderr)
    return 1 if survived or errors else 0


def _paths(tests: tuple[str, ...]) -> list[str]:
    """The test files a mutant's pytest arguments name (options and -k expressions dropped)."""
    files, skip_next = [], False
    for arg in tests:
        if skip_next:
            skip_next = False
        elif arg == "-k":
            skip_next = True
        elif not arg.startswith("-"):
            files.append(arg.split("::")[0])
    return files


if __name__ == "__main__":
    sys.exit(main())
