"""Writing files without losing any: outputs are checked before any work (never an input, never
an existing file unless asked), and written atomically (a temporary file in the target's own
folder, renamed over the target, so the rename never crosses file systems and a reader never
sees half a file)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from predrnn.errors import OutputError

_UMASK = os.umask(0)
os.umask(_UMASK)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(
    path: str | Path, suffix: str, key: str, inputs: Iterable[str | Path] = (), overwrite: bool = False
) -> Path:
    """The output path `path` if it is safe to write: it ends in `suffix`, is not a folder, is
    none of `inputs` (nor a file inside an input folder), and does not exist unless `overwrite`."""
    out = Path(path).expanduser()
    if out.suffix.lower() != suffix:
        raise OutputError(f"{key}={path} must end in {suffix}: e.g. {key}={out.with_suffix(suffix).name}")
    if out.is_dir():
        raise OutputError(f"{key}={path} is a folder: give a file name ending in {suffix}")
    for given in inputs:
        source = Path(given).expanduser()
        if _same(out, source) or (source.is_dir() and out.resolve().is_relative_to(source.resolve())):
            raise OutputError(f"{key}={path} would overwrite the input {given}: choose another {key}")
    if out.exists() and not overwrite:
        raise OutputError(f"{key}={path} exists: choose another {key}, or set overwrite=true to replace it")
    if not out.parent.exists():
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"{key}={path}: cannot create its folder ({err.strerror})")
    return out


@contextmanager
def atomic_path(path: str | Path):
    """Yields a temporary path beside `path` (same folder, same suffix); on success it is
    renamed over `path`, on failure removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # the permissions a plain open() would give, not mkstemp's 0600
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """`path` written atomically with `text`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def strict_json(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None, so that `json.dumps` writes
    strict JSON (null where a value is undefined) instead of bare `NaN`."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def write_json(path: str | Path, value: Any) -> Path:
    """`value` as strict, indented JSON at `path`, written atomically."""
    return write_text(path, json.dumps(strict_json(value), indent=2, allow_nan=False))
