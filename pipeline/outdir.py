"""Output folders that change as a whole, one run at a time, never over an input.

A command that writes a folder (extract, run, flag, audit) builds the new content in a staging
folder beside it, `.NAME.modic-staging`, and swaps it in with one atomic rename at the end
(Linux `renameat2(RENAME_EXCHANGE)`; elsewhere two renames that the next run completes if it
was cut between them). A kill at any moment leaves NAME holding either the previous complete
results or the new complete ones.

- Files of the folder this command does not make are carried into the new folder (hard links,
  so nothing is copied), except the project's own files that the new content makes stale
  (`patients.csv` after a new extraction): those are removed, and the command says so.
- `.NAME.modic-lock` (an flock) lets one run at a time write NAME; a second run fails at once
  naming the pid and start time of the first. The lock dies with its process.
- Leftovers of a killed run (its staging folder) are removed by the next run, or continued by
  `modic extract --resume` (see outputs.ResultWriter).
- No output path may be, or replace, an input of the command (`refuse_overwrite`).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModicError

STAGING = ".modic-staging"
PREVIOUS = ".modic-previous"
LOCK = ".modic-lock"
#: Inside a staging folder: marks it complete, so that an interrupted two-rename swap can finish.
READY = ".modic-ready"
#: Inside a staging folder: the work of an unfinished extraction (its journal).
WORK = ".modic-work"


@dataclass(frozen=True)
class Products:
    """What a command does to its output folder: the files it writes whole, the files it changes
    (copied into the staging folder first), and the project's files it makes stale."""

    writes: frozenset[str]
    changes: frozenset[str] = frozenset()
    stale: frozenset[str] = frozenset()
    #: why the stale files go, for the note
    why: str = ""

    @property
    def touched(self) -> frozenset[str]:
        return self.writes | self.changes | self.stale


EXTRACTION = frozenset({"mentions.csv", "findings.csv", "reports.csv", "texts.parquet", "results.duckdb"})
EXTRACT = Products(EXTRACTION, stale=frozenset({"patients.csv", "review.html"}), why="made from the earlier extraction")
RUN = Products(EXTRACTION | {"patients.csv"}, stale=frozenset({"review.html"}), why="made from the earlier extraction")
FLAG = Products(
    frozenset({"patients.csv"}),
    frozenset({"results.duckdb"}),
    frozenset({"review.html"}),
    "made from the earlier flags",
)


def refuse_overwrite(inputs: Iterable[Path | None], out: Path, option: str = "--out", products: Products | None = None):
    """Refuse, before any work, an output that is an input or would replace one.

    `out` is a file the command writes (products None) or a folder it writes `products` into.
    """
    out = Path(out)
    for inp in inputs:
        if inp is None or not Path(inp).exists():
            continue
        inp = Path(inp)
        if _same(inp, out):
            what = "folder" if inp.is_dir() else "file"
            raise ModicError(f"{option} {out} is the input {what} {inp}; choose another {option}")
        if products is not None and _same(inp.parent, out) and inp.name in products.touched:
            raise ModicError(
                f"{option} {out} would replace the input {inp.name} ({inp}); choose another folder or move the input"
            )


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


# -- the lock -----------------------------------------------------------------------------------
class FolderLock:
    """An exclusive, non-blocking lock on `.NAME.modic-lock` beside the folder NAME."""

    def __init__(self, folder: Path, command: str):
        self.folder = folder
        self.path = folder.parent / f".{folder.name}{LOCK}"
        self.command = command
        self.fd: int | None = None

    def acquire(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ModicError(
                    f"{self.folder}: cannot create the lock file {self.path.name}: {exc.strerror}"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise ModicError(
                    f"{self.folder} is being written by another modic run ({holder}); wait for it to finish "
                    "or choose another output folder"
                ) from None
            # the lock file may have been removed by its previous holder between our open and flock
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = {"pid": os.getpid(), "started": dt.datetime.now().isoformat(timespec="seconds"), "command": self.command}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = None


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        return f"pid {int(info['pid'])}, started {str(info['started'])[:19].replace('T', ' ')}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"


# -- the swap -----------------------------------------------------------------------------------
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2). False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _carry(src: Path, dst: Path) -> None:
    """Put src (a file or folder) at dst without copying data where a hard link will do."""
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
    elif src.is_symlink():
        os.symlink(os.readlink(src), dst)
    else:
        _link_or_copy(str(src), str(dst))


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@dataclass
class OutputFolder:
    """Context manager: `with OutputFolder(out, EXTRACT, "extract") as folder:` write into `folder.path`
    (the staging folder); a clean exit swaps it in. On an error the folder is left as it was; the
    staging folder is kept only when `keep_work` says it holds resumable work."""

    out: Path
    products: Products
    command: str
    resume: bool = False
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.out = Path(self.out)
        self.staging = self.out.parent / f".{self.out.name}{STAGING}"
        self.previous = self.out.parent / f".{self.out.name}{PREVIOUS}"
        self.lock = FolderLock(self.out, self.command)
        #: set by the writer: whether the staging folder holds work that --resume can continue,
        #: and how many reports it holds
        self.keep_work = False
        self.kept = 0

    @property
    def path(self) -> Path:
        return self.staging

    def __enter__(self) -> OutputFolder:
        if self.out.exists() and not self.out.is_dir():
            raise ModicError(f"{self.out} is a file, not a folder; choose another output folder")
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModicError(f"{self.out}: cannot create output folder: {exc.strerror}") from None
        self.lock.acquire()
        try:
            self._recover()
            self._prepare()
        except BaseException:
            self.lock.release()
            raise
        return self

    def _recover(self) -> None:
        """Finish a two-rename swap that a kill cut in half; drop the remains of a finished one."""
        if self.previous.exists():
            if not self.out.exists():
                if (self.staging / READY).exists():
                    os.rename(self.staging, self.out)
                    (self.out / READY).unlink(missing_ok=True)
                else:
                    os.rename(self.previous, self.out)
            remove(self.previous)

    def _prepare(self) -> None:
        work = self.staging / WORK
        if self.staging.exists():
            if self.resume and work.is_dir():
                return  # the writer continues it
            if work.is_dir():
                self.notes.append("removed the unfinished work of an interrupted run (--resume continues one)")
            remove(self.staging)
            if self.resume:
                self.notes.append("nothing to resume: no unfinished run was found; starting from the beginning")
        elif self.resume:
            self.notes.append("nothing to resume: no unfinished run was found; starting from the beginning")
        try:
            self.staging.mkdir()
            for name in self.products.changes:
                if (self.out / name).is_file():
                    shutil.copyfile(self.out / name, self.staging / name)
        except OSError as exc:
            remove(self.staging)
            raise _write_error(self.out, exc) from None

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                try:
                    self._commit()
                except OSError as exc2:
                    raise _write_error(self.out, exc2) from None
            elif not (self.keep_work and (self.staging / WORK).is_dir()) or _no_space(exc):
                remove(self.staging)
                if isinstance(exc, DiskFull):
                    raise DiskFull(
                        f"{self.out}: {exc}; the partial results were removed, the folder is as it was"
                    ) from None
        finally:
            self.lock.release()

    def _commit(self) -> None:
        remove(self.staging / WORK)
        stale = []
        if self.out.is_dir():
            for entry in sorted(self.out.iterdir(), key=lambda p: p.name):
                if entry.name in self.products.stale:
                    stale.append(entry.name)
                elif entry.name not in self.products.writes and entry.name not in self.products.changes:
                    target = self.staging / entry.name
                    if not target.exists():
                        _carry(entry, target)
        if stale:
            self.notes.append(f"removed {', '.join(stale)} of the earlier run ({self.products.why})")
        if not self.out.exists():
            os.rename(self.staging, self.out)
        elif _exchange(self.staging, self.out):
            remove(self.staging)  # now the previous content
        else:
            (self.staging / READY).touch()
            os.rename(self.out, self.previous)
            os.rename(self.staging, self.out)
            (self.out / READY).unlink(missing_ok=True)
            remove(self.previous)


def _no_space(exc: BaseException | None) -> bool:
    return isinstance(exc, DiskFull) or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)


class DiskFull(ModicError):
    """The disk filled up during a run; the staging folder is removed to give the space back."""


def _write_error(out: Path, exc: OSError) -> ModicError:
    if exc.errno == errno.ENOSPC:
        return DiskFull(f"{out}: no space left on device; the partial results were removed, the folder is as it was")
    return ModicError(f"{out}: cannot write the output folder: {exc.strerror or exc}")
