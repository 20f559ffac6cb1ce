"""Skips are declared, not discovered.

Every skip of a test session must match an entry of `ALLOWED_SKIPS` (where, the skip's
reason, why it is fine, and in which environment). Any other skip is listed at the end of
the session; with `CI` set it fails the run, so a broken install (a plugin that no longer
imports, a missing browser) cannot leave CI green by skipping whole suites.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest


def _missing(module: str) -> Callable[[], bool]:
    return lambda: importlib.util.find_spec(module) is None


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


@dataclass(frozen=True)
class AllowedSkip:
    where: str
    """fnmatch pattern on the test's node id (its path relative to the repository root)."""
    reason: str
    """A piece of the skip's reason."""
    why: str
    applies: Callable[[], bool] = lambda: True
    """Whether this environment is one where the skip is expected."""


ALLOWED_SKIPS = (
    AllowedSkip(
        "plugins/engines/lmdeploy/tests/*",
        "LMDeploy needs a CUDA GPU",
        "GPU-only: LMDeploy's engine runs on CUDA only; its registration and argument checks run here",
        _no_cuda,
    ),
    AllowedSkip(
        "plugins/engines/vllm/tests/*",
        "vllm is not installed in this environment; run make test-vllm",
        "the other environment's tests: vLLM pins its own torch, so they run in .venv-vllm",
        _missing("vllm"),
    ),
    AllowedSkip(
        "tests/test_grpo_vllm.py*",
        "needs vLLM: make test-vllm",
        "the other environment's tests: GRPO through vLLM runs in .venv-vllm",
        _missing("vllm"),
    ),
    AllowedSkip(
        "plugins/trainers/rlhf/tests/test_grpo.py::test_use_vllm_without_vllm_names_what_to_install",
        "vLLM is installed here",
        "the main environment's test: the error when vLLM is absent",
        lambda: not _missing("vllm")(),
    ),
    AllowedSkip(
        "plugins/exporters/gptq/tests/test_quant_env.py*",
        "gptqmodel lives in the quant environment: make test-quant",
        "the other environment's tests: gptqmodel needs torch>=2.14.1, so GPTQ/AWQ run in .venv-quant",
        _missing("gptqmodel"),
    ),
    AllowedSkip(
        "plugins/exporters/gptq/tests/test_gptq.py::test_without_gptqmodel_the_refusal_names_the_environment*",
        "gptqmodel is installed here",
        "the main environment's test: the error when gptqmodel is absent",
        lambda: not _missing("gptqmodel")(),
    ),
    AllowedSkip(
        "tests/test_run_errors.py::test_a_read_only_output_folder_is_named",
        "root writes into read-only folders",
        "a real chmod cannot stop root (CI runs as root); the next test fakes the read-only folder",
        lambda: os.geteuid() == 0,
    ),
    AllowedSkip(
        "core/tests/test_trainer_conformance.py::*::test_rejects_the_arguments_of_other_trainers",
        "no other installed trainer declares an argument this one lacks",
        "the min-versions environment installs no trainer plugin, so sft and pt have no rivals",
        _missing("tunekite_rlhf"),
    ),
    AllowedSkip(
        "*::test_arguments_round_trip_through_json",
        "declares no arguments",
        "conformance check that does not apply: the component has no argument group",
    ),
    AllowedSkip(
        "*",
        "does not claim parity with a Jinja chat template",
        "conformance check that does not apply: the template declares it differs from its model's",
    ),
    AllowedSkip(
        "*",
        "the test tokenizer has no chat template to compare with",
        "conformance check that does not apply: no Jinja template to compare against",
    ),
    AllowedSkip(
        "*",
        "declares no subsets",
        "conformance check that does not apply: the dataset has a single subset",
    ),
)


def allowed(nodeid: str, reason: str) -> AllowedSkip | None:
    """The allow-list entry that declares this skip here, if any."""
    for entry in ALLOWED_SKIPS:
        if fnmatch.fnmatchcase(nodeid, entry.where) and entry.reason in reason and entry.applies():
            return entry
    return None


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


_unexpected: list[tuple[str, str]] = []


def _check(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = _reason(report)
        if allowed(report.nodeid, reason) is None:
            _unexpected.append((report.nodeid, reason))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _check(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _check(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _unexpected and os.environ.get("CI") and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _unexpected:
        return
    verdict = "the run fails (CI is set)" if os.environ.get("CI") else "the run would fail with CI set"
    terminalreporter.section("skips not declared in conftest.py's ALLOWED_SKIPS", sep="=", red=True)
    for nodeid, reason in _unexpected:
        terminalreporter.line(f"UNEXPECTED SKIP {nodeid}: {reason}")
    terminalreporter.line(f"{len(_unexpected)} unexpected skip(s): {verdict}.")
