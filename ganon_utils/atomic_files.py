"""Atomic output files: every artifact the pipeline writes goes through here.

A writer fills a hidden temporary file in the destination folder; only when it
finishes without error is the temporary file renamed onto the destination with
``os.replace`` (atomic on POSIX and Windows within one file system). A reader
therefore sees either the previous complete file or the new complete file, never
a partial one, and an interrupted run leaves no half-written artifact that a
rerun would mistake for a finished one.

A run holds :func:`folder_lock` on its output folder, so two runs never write into
one folder at once, and removes the temporary files a killed run left behind
(:func:`remove_stale_temporaries`: they can be complete copies of original faces).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganon_utils.stages import PathLike

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FolderBusyError",
    "atomic_path",
    "folder_lock",
    "remove_stale_temporaries",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_csv_atomic",
    "save_npy_atomic",
]


TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.[^./]+)?$")
"""Names :func:`_temp_sibling` gives (``.<name>.<12 hex>.tmp<suffix>``)."""
LOCK_FILE = ".lock"


def _temp_sibling(path: Path) -> Path:
    """Create and return an empty, hidden, uniquely named file next to ``path``.

    The name keeps ``path``'s last suffix so that writers choosing a format by
    suffix (Pillow, pandas compression, ``np.save``) behave as for ``path``.
    The file is created with ``O_EXCL`` and mode 0o666 (less the umask), so the
    final file gets ordinary permissions (``mkstemp`` would give 0o600).
    """
    for _ in range(100):
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp{path.suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FileExistsError(f"could not create a temporary file next to {path}")


def _fsync_file(path: Path) -> None:
    """Flush a file's data to disk so the rename cannot expose an empty file after a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Persist a rename in ``folder`` (POSIX only; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The temporary file lives in ``path``'s folder (created if missing), is hidden
    (leading dot) and keeps ``path``'s suffix. It exists (empty) when yielded, so
    the writer may open it for writing or overwrite it. If the ``with`` body
    raises (including ``KeyboardInterrupt``), the temporary file is removed and
    ``path`` is left untouched. With ``fsync`` the data (and the rename) are
    flushed to disk, so a power cut cannot leave a truncated file under ``path``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_sibling(target)
    try:
        yield temp
        if fsync:
            _fsync_file(temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_dir(target.parent)


def write_bytes_atomic(path: PathLike, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, fsync=fsync) as temp:
        with open(temp, "wb") as handle:
            handle.write(data)


def write_text_atomic(path: PathLike, text: str, *, encoding: str = "utf-8", fsync: bool = True) -> None:
    """Write ``text`` to ``path`` atomically, byte for byte (no newline translation)."""
    write_bytes_atomic(path, text.encode(encoding), fsync=fsync)


def write_csv_atomic(path: PathLike, df: pd.DataFrame, *, fsync: bool = True) -> None:
    """Write ``df`` as UTF-8 CSV without its index and with ``\\n`` line ends, atomically.

    Compression is inferred from ``path``'s suffix (e.g. ``.csv.gz``), as pandas does.
    """
    with atomic_path(path, fsync=fsync) as temp:
        df.to_csv(temp, index=False, encoding="utf-8", lineterminator="\n")


def save_npy_atomic(path: PathLike, array: np.ndarray, *, fsync: bool = True) -> None:
    """Save ``array`` in ``.npy`` format to exactly ``path`` (no suffix appended), atomically.

    Object arrays are refused (``allow_pickle=False``) so the file loads safely.
    """
    with atomic_path(path, fsync=fsync) as temp:
        with open(temp, "wb") as handle:
            np.save(handle, np.asarray(array), allow_pickle=False)


def remove_stale_temporaries(folder: PathLike) -> int:
    """Delete the temporary files of interrupted writes anywhere under ``folder``; the number removed.

    Call it only while holding :func:`folder_lock` on ``folder``, so no live writer's file is taken away.
    """
    root = Path(folder)
    if not root.is_dir():
        return 0
    removed = 0
    for current, _, files in os.walk(root):
        for name in files:
            if TEMPORARY_NAME.match(name):
                Path(current, name).unlink(missing_ok=True)
                removed += 1
    return removed


class FolderBusyError(RuntimeError):
    """Another run holds the lock of an output folder."""


class _HeldLocks:
    """Locks this process holds: path -> (open lock file, count), so nested stages may lock one folder again."""

    guard = threading.Lock()
    held: dict[Path, list] = {}


@contextlib.contextmanager
def folder_lock(folder: PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if missing) for the block; FolderBusyError when another
    process holds it. Re-entrant within a process. Uses ``flock`` on ``folder/.lock`` (released by the system
    when a run dies); where ``fcntl`` is missing (Windows) the block runs unlocked."""
    root = Path(folder).resolve()
    root.mkdir(parents=True, exist_ok=True)
    with _HeldLocks.guard:
        entry = _HeldLocks.held.get(root)
        if entry is not None:
            entry[1] += 1
        else:
            handle = open(root / LOCK_FILE, "a+")
            try:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:
                pass
            except BlockingIOError:
                handle.seek(0)
                owner = handle.read().strip() or "another process"
                handle.close()
                raise FolderBusyError(
                    f"{root} is being written by another run ({owner}); wait for it to finish or use another output folder"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}\n")
            handle.flush()
            _HeldLocks.held[root] = [handle, 1]
    try:
        yield root
    finally:
        with _HeldLocks.guard:
            entry = _HeldLocks.held[root]
            entry[1] -= 1
            if entry[1] == 0:
                del _HeldLocks.held[root]
                entry[0].close()  # closing the file releases the flock
