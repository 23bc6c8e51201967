"""Atomic outputs: a file winback writes is either complete or not there at all.

Every writer (scores, lists, metrics, reports, features, quarantine files) goes through
:func:`atomic_output`: the content is written to a temporary file in the target's folder,
flushed and fsynced, then renamed over the target with :func:`os.replace`, which is atomic
on one file system. A full disk, a read-only folder or a vanished mount therefore never
leaves a truncated file behind (a half-written CSV that a CRM would import); the
temporary file is removed and the failure becomes one :class:`OutputError` line naming
the path and the operating system's reason, which the CLI prints with exit code 1.

Targets that are not regular files (``/dev/stdout``, ``/dev/full``, a named pipe) cannot
be renamed over: they are written directly, and a failed write, flush or close is
reported the same way. The helper lives in ``features`` because the feature table and the
quarantine file are written here; ``pipelines`` uses it too (imports run one way).
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from features.errors import OutputError

__all__ = ["atomic_output", "output_error", "write_text_atomic"]


def output_error(path: str | Path, error: OSError) -> OutputError:
    """``<path>: cannot write (<reason>)``, the reason in the operating system's words."""
    reason = os.strerror(error.errno) if error.errno else (str(error) or type(error).__name__)
    return OutputError(f"{path}: cannot write ({reason})")


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield the path a writer should write to; on success it replaces ``path`` at once.

    The writer may open and close the yielded path as it likes (``to_csv``,
    ``pq.write_table``, ``write_text``). Any :class:`OSError`, from the writer or from
    flushing and renaming, removes the temporary file and raises :class:`OutputError`.
    """
    target = Path(path)
    if target.is_symlink():  # replace the file the link points to, not the link
        target = target.resolve()
    if target.exists() and not target.is_file():
        yield from _direct(target, shown=path)
        return
    temporary = _create_temporary(target, shown=path)
    try:
        yield temporary
        _fsync_file(temporary)
        os.replace(temporary, target)
    except OSError as error:
        _remove_quietly(temporary)
        raise output_error(path, error) from None
    except BaseException:
        _remove_quietly(temporary)
        raise
    _fsync_folder(target.parent)


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding=encoding)
    return Path(path)


def _direct(target: Path, shown: str | Path) -> Iterator[Path]:
    """A device or pipe: written in place; write and close errors are still reported."""
    try:
        yield target
    except OSError as error:
        raise output_error(shown, error) from None


def _create_temporary(target: Path, shown: str | Path) -> Path:
    """An empty, uniquely named file beside ``target``, with the mode a plain write gets
    (the umask's default, or the mode of the file being replaced)."""
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    if target.parent.exists() and not target.parent.is_dir():
        raise OutputError(f"{shown}: cannot write ({target.parent} is not a folder)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(descriptor)
        if target.exists():
            os.chmod(temporary, stat.S_IMODE(target.stat().st_mode))
    except OSError as error:
        _remove_quietly(temporary)
        raise output_error(shown, error) from None
    return temporary


def _fsync_file(path: Path) -> None:
    """Push the written bytes to the disk before the rename makes them visible."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself; folders that cannot be fsynced (some platforms) are
    skipped, since the file is already complete either way."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
