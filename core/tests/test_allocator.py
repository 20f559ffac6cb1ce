"""`tk run`'s allocator: the environment it executes itself again with, when it does not,
and a real `tk run` process that runs on tcmalloc when the machine has it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tunekite.allocator import PRELOADED, VARIABLE, find_tcmalloc, preload_environment
from tunekite.errors import ArgumentError


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"")
    return tmp_path


def test_a_found_tcmalloc_goes_first_in_ld_preload_and_marks_the_new_process(library_dir: Path) -> None:
    env = preload_environment({"LD_PRELOAD": "libfoo.so", "PATH": "/bin"}, [library_dir])
    library = str(library_dir / "libtcmalloc_minimal.so.4")
    assert env is not None
    assert env["LD_PRELOAD"] == f"{library}:libfoo.so"
    assert env[PRELOADED] == library and env["PATH"] == "/bin"
    assert int(env["TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"]) >= 2**40


@pytest.mark.parametrize(
    "environ",
    [
        {PRELOADED: "/x/libtcmalloc_minimal.so.4"},
        {VARIABLE: "system"},
        {"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"},
    ],
    ids=["already-re-executed", "system-chosen", "allocator-already-preloaded"],
)
def test_the_process_goes_on_as_it_is(library_dir: Path, environ: dict) -> None:
    assert preload_environment(environ, [library_dir]) is None


def test_without_tcmalloc_nothing_is_preloaded(tmp_path: Path) -> None:
    assert find_tcmalloc([tmp_path]) is None
    assert preload_environment({}, [tmp_path]) is None


def test_a_chosen_library_is_preloaded_and_a_missing_one_is_refused(
    library_dir: Path, tmp_path: Path
) -> None:
    chosen = library_dir / "libtcmalloc_minimal.so.4"
    assert preload_environment({VARIABLE: str(chosen)}, [])["LD_PRELOAD"] == str(chosen)
    with pytest.raises(ArgumentError, match=f"{VARIABLE}=.*no-such.so: no such library file"):
        preload_environment({VARIABLE: str(tmp_path / "no-such.so")}, [])


PROBE = textwrap.dedent(
    """
    import pluggy
    from tunekite.registrations import TaskSpec

    hookimpl = pluggy.HookimplMarker("tunekite")

    def probe(run):
        from tunekite.allocator import describe_allocator
        print("ALLOCATOR", describe_allocator())

    @hookimpl
    def tk_register_tasks(register):
        register(TaskSpec(name="allocator-probe", summary="print the allocator", factory=probe))
    """
)


def tk_run(tmp_path: Path, **env: str) -> str:
    (tmp_path / "probe.py").write_text(PROBE)
    command = [
        sys.executable,
        "-m",
        "tunekite",
        "run",
        "allocator-probe",
        "--custom_register_path",
        "probe.py",
    ]
    environ = {k: v for k, v in os.environ.items() if k not in (PRELOADED, VARIABLE, "LD_PRELOAD")}
    done = subprocess.run(
        command, cwd=tmp_path, env={**environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return next(line for line in done.stdout.splitlines() if line.startswith("ALLOCATOR"))


@pytest.mark.skipif(
    find_tcmalloc() is None and not os.environ.get("CI"),
    reason="tcmalloc is not installed here (make tcmalloc); CI installs it",
)
def test_tk_run_runs_on_tcmalloc_and_on_glibc_when_told(tmp_path: Path) -> None:
    library = find_tcmalloc()
    assert library is not None, "CI runs `make tcmalloc` first"
    assert tk_run(tmp_path) == f"ALLOCATOR tcmalloc_minimal ({library.resolve()})"
    assert tk_run(tmp_path, **{VARIABLE: "system"}) == f"ALLOCATOR glibc malloc ({VARIABLE}=system)"
