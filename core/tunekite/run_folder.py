"""A training run's output folder: where it is, that one run at a time holds it, and that
a run which fails to start leaves nothing behind.

Only trainers get a run folder; tasks (infer, export, deploy, app) write only the files
they are asked for. The folder is created when the run starts, locked for as long as
it runs (a second run into it fails at once, naming the first's PID; the lock of a
process that died is taken over), and refused when it holds another run's checkpoints
unless the run resumes from one of them or `--overwrite_output_dir true` is given.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite.arguments.parser import ARGS_FILE, META_KEY
from tunekite.arguments.secrets import redact_values, secret_fields
from tunekite.distributed import from_main, is_main_process
from tunekite.errors import TunekiteError

if TYPE_CHECKING:
    from tunekite.launcher import Run

LOCK_FILE = ".tunekite.lock"
MANIFEST_FILE = "run_manifest.json"
CHECKPOINT_PREFIX = "checkpoint-"
STAGING = ".staging"
START_FILES = frozenset({ARGS_FILE, MANIFEST_FILE, f".{ARGS_FILE}.tmp", f".{MANIFEST_FILE}.tmp", STAGING})
"""What a run writes before it trains: a failure that left only these was a failed start."""
RUN_ARTIFACTS = (ARGS_FILE, MANIFEST_FILE, "logging.jsonl", "images", "runs", "last", "best", STAGING)
"""What `--overwrite_output_dir` deletes besides the checkpoints: the files runs leave."""


class OutputError(TunekiteError):
    """The output folder cannot be used: taken by another run, not writable, full, gone."""


def wants_run_folder(run: Run) -> bool:
    return run.spec.kind == "trainers"


def base_folder(run: Run) -> Path:
    """`--output_dir`, or `output/<model folder name>` (the command's name without a model)."""
    base = run.groups["common"].output_dir
    if base is None:
        model = run.groups.get("model")
        stem = Path(str(model.model)).name if model is not None and model.model else run.command
        base = str(Path("output") / stem)
    return Path(base)


def describe_os_error(exc: OSError, folder: Path) -> str | None:
    """One line for an OSError met while writing into `folder`: a full disk, a folder not
    writable or deleted; None for an error that is not about writing there."""
    where = exc.filename or folder
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on device while writing {where}"
    inside = Path(os.path.abspath(where)).is_relative_to(os.path.abspath(folder))
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and inside:
        return f"cannot write {where}: {os.strerror(exc.errno)} (choose another --output_dir)"
    if not folder.is_dir():
        return f"the output folder {folder} was deleted while the run was writing to it"
    return None


def _write_failed(exc: OSError, path: Path) -> str:
    return describe_os_error(exc, path.parent) or f"writing {path} failed: {exc.strerror or exc}"


def _check_writable(folder: Path) -> None:
    """Fail before creating anything when `folder` cannot be a folder we write into."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--output_dir {folder} is a file, not a folder")
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise OutputError(f"--output_dir {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"--output_dir {folder}: {existing} is not writable (choose another --output_dir)")


def _make(folder: Path) -> list[Path]:
    """mkdir -p that returns the folders it created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    for path in missing:
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(_write_failed(exc, path)) from None
    return missing


def _new_version(base: Path) -> Path:
    """A new `v<N>-<timestamp>` folder inside `base`; mkdir is atomic, so two runs started
    together never share one."""
    taken = [int(m.group(1)) for p in base.iterdir() if (m := re.match(r"v(\d+)-", p.name))]
    version = max(taken, default=-1) + 1
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        try:
            (base / f"v{version}-{stamp}").mkdir()
            return base / f"v{version}-{stamp}"
        except FileExistsError:
            version += 1


def _lock(folder: Path) -> int:
    """An exclusive `flock` on `<folder>/.tunekite.lock`, holding our PID. A lock is
    released by the kernel when its process dies, so a dead run's file is simply taken."""
    import fcntl

    path = folder / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputError(
                f"{folder} is in use by another run (PID {holder}); wait for it to end or choose "
                "another --output_dir"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its previous holder unlinked while we opened it
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _unlock(folder: Path, fd: int) -> None:
    try:
        (folder / LOCK_FILE).unlink(missing_ok=True)
    finally:
        os.close(fd)


def checkpoints_in(folder: Path) -> list[Path]:
    """The `checkpoint-<step>` folders in `folder`, by step."""
    steps = {p: p.name.removeprefix(CHECKPOINT_PREFIX) for p in folder.glob(f"{CHECKPOINT_PREFIX}*")}
    return sorted((p for p, step in steps.items() if step.isdigit()), key=lambda p: int(steps[p]))


def _claim(folder: Path, run: Run) -> None:
    """Refuse a folder holding another run's checkpoints, unless resuming from one of them
    or told to overwrite them."""
    found = checkpoints_in(folder)
    if not found:
        return
    training = run.groups.get("training")
    resume = getattr(training, "resume_from_checkpoint", None)
    if resume and Path(resume).resolve().parent == folder.resolve():
        return
    if run.groups["common"].overwrite_output_dir:
        for path in [*found, *(folder / name for name in RUN_ARTIFACTS)]:
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
        return
    raise OutputError(
        f"{folder} holds another run's checkpoints ({', '.join(p.name for p in found)}); "
        f"resume with --resume_from_checkpoint {found[-1]}, delete them with "
        "--overwrite_output_dir true, or choose another --output_dir"
    )


@contextmanager
def run_folder(run: Run) -> Iterator[Path]:
    """The run's folder, created and locked for the `with` block. When the block fails
    before the run wrote anything besides its start files, what it created is removed.
    Under torchrun rank 0 alone chooses, locks, claims and cleans the folder, and hands
    its path to the other ranks (a failure there is said once, by rank 0)."""
    if not is_main_process():
        yield from_main(_never_called)
        return
    opened: list[Any] = []
    folder = from_main(lambda: _open(run, opened))
    fd, before, created = opened
    try:
        yield folder
    except BaseException:
        _unlock(folder, fd)
        fd = -1
        _clean_failed_start(folder, before, created)
        raise
    finally:
        if fd >= 0:
            _unlock(folder, fd)


def _never_called() -> Path:
    raise AssertionError("only rank 0 chooses the run folder")


def _open(run: Run, opened: list[Any]) -> Path:
    """Create, lock and claim the run's folder; `opened` receives the lock, the names that
    were there before and the folders created, for the cleanup of a failed start."""
    base = base_folder(run)
    _check_writable(base)
    created = _make(base)
    folder = _new_version(base) if run.groups["common"].add_version else base
    if folder != base:
        created.append(folder)
    try:
        fd = _lock(folder)
    except BaseException:
        _remove_empty(created)
        raise
    before = set(os.listdir(folder))
    try:
        _claim(folder, run)
    except BaseException:
        _unlock(folder, fd)
        _clean_failed_start(folder, before, created)
        raise
    opened.extend((fd, before, created))
    return folder


def _clean_failed_start(folder: Path, before: set[str], created: list[Path]) -> None:
    if not folder.is_dir():
        return
    new = set(os.listdir(folder)) - before
    staging = folder / STAGING
    if not new <= START_FILES or (staging.is_dir() and any(staging.iterdir())):
        return  # training had begun: its logs and checkpoints stay for the user to see
    for name in new:
        path = folder / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    _remove_empty(created)


def _remove_empty(created: list[Path]) -> None:
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            return


def write_args(run: Run, folder: Path) -> Path:
    """Write `args.json` atomically: the flat values, secrets redacted, plus the run's manifest."""
    data = redact_values(run.values(), secret_fields(run.groups.values()))
    data[META_KEY] = run.manifest()
    return write_json(folder / ARGS_FILE, data)


def write_json(path: Path, data: Any) -> Path:
    """`path` written whole or not at all (a temporary file renamed into place)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(_write_failed(exc, path)) from None
    return path


_SHORT_WRITE = ("unexpected pos", "file write failed", "No space left", "StorageFull")
LOW_SPACE = 256 << 20
"""Free bytes below which a short write is taken for a full disk."""


def free_space(folder: Path) -> int:
    """Bytes free on the file system holding `folder`."""
    return shutil.disk_usage(folder).free


def describe_write_failure(exc: BaseException, path: Path) -> str | None:
    """One line for an error raised while writing `path`, or None when it is no write
    failure. torch reports a full disk as "unexpected pos A vs B" and safetensors as an
    IoError, neither naming the cause: a short write on a nearly full disk is named so."""
    if isinstance(exc, OSError):
        if exc.filename is None:
            exc.filename = str(path)
        return _write_failed(exc, path)
    text = str(exc)
    if not any(marker in text for marker in _SHORT_WRITE):
        return None
    existing = next((p for p in (path, *path.parents) if p.is_dir()), Path("."))
    if "No space left" in text or free_space(existing) < LOW_SPACE:
        return f"no space left on device while writing {path}"
    return f"writing {path} failed: {text.strip().splitlines()[-1]}"
