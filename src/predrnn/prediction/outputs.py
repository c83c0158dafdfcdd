"""What a prediction writes: the output (.npy, a CF netCDF-4 or Zarr forecast) and its GIF,
checked before any work (never an input, never an existing file unless overwrite=true), written
atomically (both, or neither), and described in the closing line."""

from __future__ import annotations

import fnmatch
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from predrnn.data import series_input
from predrnn.data.forecast_writer import ZARR_MARKERS
from predrnn.data.forecast_writer import save as save_forecast
from predrnn.data.layout import Layout
from predrnn.errors import OutputError
from predrnn.files import atomic_outputs, check_output
from predrnn.training.signals import Stopped

OUTPUTS = {".npy": "a NumPy array", ".nc": "a CF netCDF-4 forecast", ".zarr": "a CF forecast as a Zarr store"}


def check_outputs(cfg: DictConfig) -> tuple[Path, Path]:
    """The output and its GIF, checked before any work: .npy, .nc or .zarr; never an input (nor
    a file a glob input matches), never an existing file unless overwrite=true."""
    suffix = Path(str(cfg.output)).suffix.lower()
    if suffix not in OUTPUTS:
        raise OutputError(
            f"output={cfg.output} must end in .npy (a NumPy array), .nc (a CF netCDF-4 forecast) or .zarr "
            f"(a CF forecast as a Zarr store): e.g. output={Path(str(cfg.output)).with_suffix('.nc').name}"
        )
    inputs = series_input.input_files(str(cfg.input))
    if series_input.has_glob(str(cfg.input)) and fnmatch.fnmatch(_absolute(cfg.output), _absolute(cfg.input)):
        raise OutputError(
            f"output={cfg.output} matches input={cfg.input}: a later run would read it as input; choose another output"
        )
    markers = ZARR_MARKERS if suffix == ".zarr" else ()
    out = check_output(cfg.output, suffix, "output", inputs=inputs, overwrite=cfg.overwrite, folder_markers=markers)
    gif_name = cfg.gif or out.with_name(f"{out.stem}_preview.gif")
    gif = check_output(gif_name, ".gif", "gif", inputs=[*inputs, out], overwrite=cfg.overwrite)
    return out, gif


def _absolute(path) -> str:
    return os.path.abspath(os.path.expanduser(str(path)))


def write_outputs(out: Path, gif: Path, result: np.ndarray, dataset, observed, predicted, overwrite: bool) -> None:
    """`result` (or the CF forecast `dataset`, where one is given) to `out` and the GIF of the
    `observed` and `predicted` frames to `gif`: both, or neither."""
    from predrnn.training import media

    folders = [out] if out.suffix.lower() == ".zarr" else []
    try:  # both, or neither
        with atomic_outputs([out, gif], overwrite, folders=folders) as (tmp, gif_tmp):
            if dataset is None:
                np.save(tmp, result)
            else:
                save_forecast(dataset, tmp)
            media.write_prediction_gif(gif_tmp, observed, predicted)
    except Stopped as stop:  # Ctrl-C / SIGTERM while writing: neither output changed
        stop.not_written = f"{out} and {gif} were not written"
        raise


def described(result: np.ndarray, layout: Layout, series, k: int, kind: str) -> str:
    """What was written: the array's shape and layout, and a series' issue time and lead times."""
    if series is None:
        return f"{result.dtype} {tuple(result.shape)}, layout {layout} with T = predicted frames"
    from predrnn.data.timeline import iso, step_text

    when = f"issued {iso(series.issue_time)}, lead times {step_text(series.time_step)} to {step_text(series.time_step * k)}"
    if kind == ".npy":
        return f"{result.dtype} {tuple(result.shape)}, layout {layout} with T = predicted frames; {when}"
    return f"a CF forecast of {', '.join(series.variables)}, {when}"


@contextmanager
def not_written(*outputs: Path):
    """A Ctrl-C / SIGTERM in the block says which outputs were not written."""
    try:
        yield
    except Stopped as stop:
        stop.not_written = f"{' and '.join(str(o) for o in outputs)} were not written"
        raise
