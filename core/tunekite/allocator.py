"""The memory allocator of `tk run`: tcmalloc when this machine has it, else glibc's malloc.

A CPU training step allocates and frees tensors of a few megabytes by the thousand, of
sizes that change with every padding-free row. glibc's malloc serves them from its heap
and leaves the holes they free between the tensors still saved for backward: in a
SmolLM2-135M LoRA step of 1,423 tokens (issue 19), 828 MB of the heap were free and still
resident at the end of forward, beside 1,944 MB in use. tcmalloc, preloaded, left 116 MB
free in the same step, and the run's peak RSS fell by about 1 GB, no slower (`bench/sft.py`:
`default` against `glibc_malloc`; the README's *Speed and memory*).
jemalloc 5.3 (`libjemalloc2`) lowered the peak as much but trained 17-19 % slower (two rounds).

An allocator is chosen before a process starts, so `tk run` (the console command, not
`tunekite.api`) executes itself again, once, with the library in `LD_PRELOAD`; every
process it starts (ranks, workers) inherits it. `TUNEKITE_ALLOCATOR=system` keeps glibc's
malloc; `TUNEKITE_ALLOCATOR=/path/to/lib.so` preloads that library instead.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from tunekite.errors import ArgumentError

VARIABLE = "TUNEKITE_ALLOCATOR"
PRELOADED = "TUNEKITE_ALLOCATOR_PRELOADED"
"""Set in the re-executed process, so that it does not execute itself again."""
LIBRARIES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")
INSTALL_HINT = "apt install libtcmalloc-minimal4 (Debian, Ubuntu) or conda install gperftools"
ALLOCATOR_NAMES = ("tcmalloc", "jemalloc", "mimalloc")


def library_dirs() -> list[Path]:
    """Where tcmalloc is looked for: this Python's prefix (conda installs it there), then the
    system's library folders."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = [Path(sys.prefix) / "lib", Path("/usr/local/lib")]
    if multiarch:
        dirs.append(Path("/usr/lib") / multiarch)
    return [*dirs, Path("/usr/lib64"), Path("/usr/lib")]


def find_tcmalloc(dirs: list[Path] | None = None) -> Path | None:
    """The first tcmalloc library in `dirs` (default `library_dirs()`), or None."""
    for folder in library_dirs() if dirs is None else dirs:
        for name in LIBRARIES:
            if (folder / name).is_file():
                return folder / name
    return None


def preload_environment(environ: Mapping[str, str], dirs: list[Path] | None = None) -> dict[str, str] | None:
    """The environment to execute `tk run` again with, its allocator preloaded; None when
    this process should go on as it is: already re-executed, `TUNEKITE_ALLOCATOR=system`,
    an allocator already in `LD_PRELOAD`, or no tcmalloc found."""
    choice = environ.get(VARIABLE, "auto")
    if environ.get(PRELOADED) or choice == "system" or not sys.platform.startswith("linux"):
        return None
    preloaded = environ.get("LD_PRELOAD", "")
    if any(name in preloaded for name in ALLOCATOR_NAMES):
        return None
    if choice == "auto":
        library = find_tcmalloc(dirs)
        if library is None:
            return None
    else:
        library = Path(choice)
        if not library.is_file():
            raise ArgumentError(
                f"{VARIABLE}={choice}: no such library file (give a path to a malloc library such as "
                f"libtcmalloc_minimal.so.4, 'system' for glibc's malloc, or leave it unset)"
            )
    env = dict(environ)
    env["LD_PRELOAD"] = ":".join(filter(None, [str(library), preloaded]))
    env[PRELOADED] = str(library)
    # tcmalloc reports every allocation over 1 GiB on stderr unless told otherwise
    env.setdefault("TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD", str(2**40))
    return env


def reexecute_with_allocator() -> None:
    """Execute this `tk` command line again with its allocator preloaded (see the module's
    docstring); returns only when it stays in this process."""
    env = preload_environment(os.environ)
    if env is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, sys.orig_argv, env)


def loaded_allocator() -> str | None:
    """The path of the malloc library mapped into this process other than glibc's, or None."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and any(name in Path(fields[5]).name for name in ALLOCATOR_NAMES):
            return fields[5].strip()
    return None


def describe_allocator() -> str:
    """The start-up line: which allocator this process runs with, and how to get tcmalloc
    when it runs glibc's malloc."""
    library = loaded_allocator()
    if library is not None:
        return f"{Path(library).name.partition('.so')[0].removeprefix('lib')} ({library})"
    if os.environ.get(VARIABLE) == "system":
        return f"glibc malloc ({VARIABLE}=system)"
    return f"glibc malloc (no tcmalloc found; it lowers a CPU run's memory peak: {INSTALL_HINT})"
