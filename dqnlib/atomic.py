"""Write a directory or a file so that readers see either the old one or the new one, whole."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def require_writable(directory: Path) -> None:
    """Create ``directory`` (and its parents) if needed and check that a file can be written
    there; raises the OSError that says why not."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / ".dqnlib-write-test"
    probe.write_bytes(b"")
    probe.unlink()


def write_directory(target: Path, write: Callable[[Path], None]) -> Path:
    """Fill a fresh staging directory with ``write(staging)``, then rename it over ``target``.

    The staging directory sits beside ``target`` (same filesystem, so the rename is atomic);
    a failure or a kill before the rename leaves ``target`` as it was. A leftover
    ``.<name>.tmp.*`` directory from a killed process is never read.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp.", dir=target.parent))
    try:
        write(staging)
        old = target.with_name(f".{target.name}.old")
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def write_file(target: Path, content: bytes) -> None:
    """Write ``content`` to a file beside ``target`` and rename it over ``target``: readers see
    the old file or the new one, whole."""
    staging = target.with_name(f".{target.name}.tmp")
    with open(staging, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    os.replace(staging, target)
