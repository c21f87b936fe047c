"""Writing the user's output files safely: never half-written, never replaced unless asked.

Every writer of a single output file goes through :func:`atomic_path`: the content is written under
a fresh hidden name in the destination folder, then renamed over the destination in one step
(``os.replace``), so a crash or an error leaves either the old file or the new one, never a part.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from omicsdisent.errors import InputError


def check_new_file(path, overwrite: bool, option: str = "--out", suffixes: Sequence[str] | None = None) -> Path:
    """``path`` as a Path, once it is known to be writable as a new file.

    Raises InputError naming ``option`` when the suffix is not one of ``suffixes`` (case-insensitive),
    the path is a folder, its folder does not exist, or the file exists and ``overwrite`` is False.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(f"{option} {path}: expected a file name ending in {' or '.join(suffixes)}")
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; expected a file name")
    if not path.parent.is_dir():
        raise InputError(f"{option} {path}: no such folder {path.parent}")
    if path.exists() and not overwrite:
        raise InputError(f"{option} {path}: already exists; pass --force (overwrite=True) to replace it")
    return path


def temporary_name(path: Path) -> Path:
    """A fresh hidden name beside ``path`` with the same suffix (writers that infer the format from it
    still work); the writer creates the file, so it gets the usual permissions."""
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}"


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on failure remove it.

    >>> with atomic_path("results.json") as tmp:
    ...     tmp.write_text("{}")
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
