"""Writing files without losing any: outputs are checked before any work (never an input, never
an existing file unless asked), and written atomically (a temporary file in the target's own
folder, renamed over the target, so the rename never crosses file systems and a reader never
sees half a file). An output that is a folder (a Zarr store) is written the same way: a
temporary folder beside it, renamed into place whole."""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from predrnn.errors import OutputError


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(
    path: str | Path,
    suffix: str,
    key: str,
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
    folder_markers: tuple[str, ...] = (),
) -> Path:
    """The output path `path` if it is safe to write: it ends in `suffix`, is not a folder, is
    none of `inputs` (nor a file inside an input folder), and does not exist unless `overwrite`.
    With `folder_markers` the output is a folder (a Zarr store: `("zarr.json", ".zgroup")`), and
    an existing one is replaced (with `overwrite`) only if it holds one of those files, so that
    overwrite=true never deletes a folder of something else."""
    out = Path(path).expanduser()
    if out.suffix.lower() != suffix:
        raise OutputError(f"{key}={path} must end in {suffix}: e.g. {key}={out.with_suffix(suffix).name}")
    if out.is_dir() and not folder_markers:
        raise OutputError(f"{key}={path} is a folder: give a file name ending in {suffix}")
    if folder_markers and out.exists() and not out.is_dir():
        raise OutputError(f"{key}={path} is a file, a {suffix} output is a folder: choose another {key}")
    if folder_markers and out.is_dir() and overwrite and not any((out / m).exists() for m in folder_markers):
        raise OutputError(
            f"{key}={path} is a folder that this kind of output never writes (it holds none of "
            f"{', '.join(folder_markers)}): nothing replaced; choose another {key}"
        )
    for given in inputs:
        source = Path(given).expanduser()
        if _same(out, source) or (source.is_dir() and out.resolve().is_relative_to(source.resolve())):
            raise OutputError(f"{key}={path} would overwrite the input {given}: choose another {key}")
    if out.exists() and not overwrite:
        raise OutputError(f"{key}={path} exists: choose another {key}, or set overwrite=true to replace it")
    blocked = not_writable(out.parent)
    if blocked is not None:
        raise OutputError(f"{key}={path}: nothing can be written in {blocked} (read-only): choose another {key}")
    if not out.parent.exists():
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"{key}={path}: cannot create its folder ({err.strerror})")
    remove_stale_temporaries(out)
    return out


HYDRA_OWN = ".hydra"  # the config Hydra writes into every run folder (and `<job>.log` beside it)


def check_run_folder(folder: str | Path, overwrite: bool, key: str = "hydra.run.dir") -> None:
    """A run folder (`hydra.run.dir`, a sweep's job folder) that already holds files is refused
    unless `overwrite`, as every other output is: a run writes `metrics.json`, `summary.json` and
    `checkpoints/` there, which would replace what is in it. Hydra's own files (`.hydra/`, the
    job's `.log`) don't count: Hydra writes them into the folder it has just made. Only the
    first process of a run checks: the others (the DDP ranks Lightning starts again with the
    same folder, a multi-task SLURM job's tasks) write into the folder the first one made."""
    folder = Path(folder).expanduser()
    if overwrite or _later_rank() or not folder.is_dir():
        return
    try:
        held = sorted(
            p.name for p in folder.iterdir() if p.name != HYDRA_OWN and not (p.suffix == ".log" and p.is_file())
        )
    except OSError:
        return
    if held:
        shown = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        raise OutputError(
            f"{key}={folder} already holds files ({shown}) that a run would replace: choose another folder, "
            "or set overwrite=true to write into it"
        )


def _later_rank() -> bool:
    """Whether this process is a rank of a distributed run other than the first."""
    return any(os.environ.get(key, "0") not in ("", "0") for key in ("LOCAL_RANK", "RANK", "NODE_RANK", "SLURM_PROCID"))


def not_writable(folder: str | Path) -> Path | None:
    """The nearest existing folder at or above `folder` when no file can be created in it (a
    read-only file system or folder), else None. Tried with a temporary file that is removed at
    once: `os.access` says yes to root even where the file system refuses."""
    probe = Path(folder).expanduser().absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError:
        return probe
    return None


def _temporary_name(path: Path) -> Path:
    """A name `.<name>.<pid>.<random>.tmp<suffix>` beside `path` (nothing is created): the pid
    tells a later run whether the process that wrote it is still alive
    (`remove_stale_temporaries`)."""
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}"


def _new_temporary(path: Path, temps: list[Path], folder: bool = False) -> Path:
    """A new empty temporary file (or folder) beside `path`, with the permissions a plain open()
    (mkdir()) gives. Its name is appended to `temps` *before* it is created, so that a signal
    handler raising at any moment (SIGTERM during a report) leaves nothing the caller's cleanup of
    `temps` would miss."""
    while True:
        tmp = _temporary_name(path)
        temps.append(tmp)
        try:
            if folder:
                os.mkdir(tmp)
            else:
                os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:  # another writer's name: not ours to clean up
            temps.pop()


def _remove(path: Path) -> None:
    """`path` removed, a file or a whole folder; nothing if it is not there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# Signals held while names move (`hold_signal`): how deep, and which arrived meanwhile.
_moving = 0
_held: list[int] = []


def hold_signal(signum: int) -> bool:
    """For a signal handler that raises (the entry points' Ctrl-C / SIGTERM → `Stopped`): while
    this module moves names (renames its temporaries into place, puts old files back, removes
    temporaries), the signal is held and True returned, and the handler returns; it is raised
    again as soon as the names are in order. Python runs a handler between any two bytecodes
    where it checks for them, so without this a stop could leave a temporary file behind, or
    one output renamed and the other not."""
    if _moving:
        _held.append(signum)
        return True
    return False


def _release() -> None:
    """The signals held meanwhile raised again, in order (`_moving` just went back to 0)."""
    while _held and not _moving:
        signal.raise_signal(_held.pop(0))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files of writes of `path` that were killed (`kill -9`, out of
    memory, a lost machine) before their rename: those whose writer is no longer running.
    Returns what was removed."""
    path = Path(path)
    removed = []
    try:
        found = list(path.parent.glob(f".{glob_escape(path.name)}.*.tmp{glob_escape(path.suffix)}"))
    except OSError:
        return removed
    for tmp in found:
        pid = tmp.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                _remove(tmp)
                removed.append(tmp)
            except OSError:
                pass
    return removed


def remove_stale_temporaries_in(folder: str | Path) -> list[Path]:
    """`remove_stale_temporaries` for every file of `folder`."""
    removed: list[Path] = []
    try:
        temps = [p for p in Path(folder).iterdir() if p.name.startswith(".") and ".tmp" in p.name]
    except OSError:
        return removed
    for tmp in temps:
        name = tmp.name[1:].split(".tmp", 1)[0]  # <name>.<pid>.<random>
        parts = name.rsplit(".", 2)
        if len(parts) == 3 and parts[1].isdigit() and not _alive(int(parts[1])):
            _remove(tmp)
            removed.append(tmp)
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


@contextmanager
def atomic_path(path: str | Path):
    """Yields a temporary path beside `path` (same folder, same suffix); on success it is
    renamed over `path`, on failure removed."""
    global _moving
    path = Path(path)
    temps: list[Path] = []
    moving = False
    try:
        tmp = _new_temporary(path, temps)
        yield tmp
        _moving, moving = _moving + 1, True  # no bytecode here where Python runs a signal handler
        os.replace(tmp, path)
    except BaseException:
        if not moving:
            _moving, moving = _moving + 1, True
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        if moving:
            _moving -= 1
        _release()


@contextmanager
def atomic_outputs(
    paths: Iterable[str | Path], overwrite: bool = False, key: str = "output", folders: Iterable[str | Path] = ()
):
    """Several outputs of one command written as one step: yields a temporary path per output
    (in order); only when the block has written them all are they renamed into place. On any
    failure no output changed. Without `overwrite` each output is created exclusively (a hard
    link that fails if the name exists), so of two processes writing the same output one
    fails instead of both reporting success; with it, the old files are kept aside until the
    last rename succeeded. An output also named in `folders` (a Zarr store) gets an empty
    temporary folder, renamed into place whole (an old one is replaced whole, never merged)."""
    global _moving
    targets = [Path(p) for p in paths]
    as_folder = {Path(p) for p in folders}
    temps: list[Path] = []
    moving = False
    try:
        for target in targets:
            _new_temporary(target, temps, folder=target in as_folder)
        yield list(temps)
        _moving, moving = _moving + 1, True  # signals held from here (`hold_signal`)
        _commit(targets, temps, overwrite, key)
    except OSError as err:  # a full disk, a folder that became read-only: one line, nothing changed
        names = ", ".join(str(t) for t in targets)
        raise OutputError(f"{key}: writing {names} failed ({err.strerror or err}): no output changed") from None
    finally:
        if not moving:
            _moving, moving = _moving + 1, True
        try:
            for tmp in temps:
                _remove(tmp)
        finally:
            _moving -= 1
            _release()


def _claim(tmp: Path, target: Path) -> None:
    """`tmp` under the name `target`, which must not exist (FileExistsError otherwise)."""
    if tmp.is_dir():  # claim the name with an empty folder, then rename the written one over it
        os.mkdir(target)
        try:
            os.replace(tmp, target)
        except OSError:
            os.rmdir(target)
            raise
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: claim the name, then rename over the claim
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.replace(tmp, target)


def _commit(targets: list[Path], temps: list[Path], overwrite: bool, key: str) -> None:
    """Each temporary under its target's name (signals are held meanwhile). With `overwrite`,
    an old target is moved aside first and removed only once every target is in place; on any
    failure the new ones are removed and the old ones put back."""
    created: list[Path] = []
    kept: list[tuple[Path, Path]] = []  # (the old file aside, its name)
    try:
        for target, tmp in zip(targets, temps, strict=True):
            if overwrite and target.exists():
                aside = _temporary_name(target)
                kept.append((aside, target))
                os.replace(target, aside)
            try:
                _claim(tmp, target)
            except FileExistsError:
                raise OutputError(
                    f"{key}={target} was created by another process meanwhile: nothing written; choose another {key}"
                ) from None
            created.append(target)
    except BaseException:
        for target in created:
            _remove(target)
        for aside, target in kept:
            _put_back(aside, target)
        raise
    for aside, _ in kept:
        _remove(aside)


def _put_back(aside: Path, target: Path) -> None:
    """The old `target`, moved aside, back under its name (nothing if it is back already)."""
    if os.path.lexists(aside):
        os.replace(aside, target)


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
