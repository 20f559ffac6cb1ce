"""The root conftest.py's skip audit: an undeclared skip is reported, and fails the run
when CI is set; a declared one passes quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = '''
import pytest

def test_arguments_round_trip_through_json():
    pytest.skip("kite declares no arguments")

def test_needs_something():
    {body}
'''


def session(tmp_path: Path, body: str, ci: bool) -> subprocess.CompletedProcess:
    """A pytest session in `tmp_path` under the repository's conftest.py."""
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "test_some.py").write_text(TESTS.format(body=body))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "."],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("ci", [True, False])
def test_an_undeclared_skip_is_reported_and_fails_under_ci(tmp_path, ci):
    result = session(tmp_path, 'pytest.skip("tunekite_lora is not installed")', ci)
    line = "UNEXPECTED SKIP test_some.py::test_needs_something: tunekite_lora is not installed"
    assert line in result.stdout
    assert "test_arguments_round_trip_through_json" not in result.stdout.split("not declared")[1]
    assert result.returncode == (1 if ci else 0), result.stdout


def test_a_module_level_skip_is_caught_too(tmp_path):
    (tmp_path / "test_module.py").write_text('import pytest\npytest.importorskip("no_such_module_here")\n')
    result = session(tmp_path, "pass", ci=True)
    assert "UNEXPECTED SKIP test_module.py: could not import 'no_such_module_here'" in result.stdout
    assert result.returncode == 1


def test_declared_skips_pass_under_ci(tmp_path):
    result = session(tmp_path, "pass", ci=True)
    assert result.returncode == 0, result.stdout
    assert "UNEXPECTED" not in result.stdout
