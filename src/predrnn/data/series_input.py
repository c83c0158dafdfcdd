"""The observed frames of `predrnn-predict` read from a CF series (docs/data.md, "Prediction"):
a netCDF file, a Zarr store, a folder or glob of them, or a URL, read through
`xarray_source.open_series` with the settings the model was trained with. The last
`input_length` times must be consecutive at the model's time step; the forecast is issued at
the last of them and lies on its grid."""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from predrnn.data import remote
from predrnn.data.grid import Grid
from predrnn.errors import DataError

SUFFIXES = (*remote.NETCDF_SUFFIXES, ".zarr")  # what names a series
# the data.* keys of a series; predrnn-predict reads them from the checkpoint unless given
SERIES_KEYS = ("variables", "dims", "select", "coarsen", "time_step", "storage_options")
_ARRAYS_KEYS = ("key", "layout", "actions_key")  # what only data=arrays records


@dataclass
class ObservedSeries:
    """The last J times of a series: `frames` float32 (1, J, C, H, W) in data units (NaN: no
    data), their `times`, the series' `time_step` and `grid`."""

    frames: np.ndarray
    times: np.ndarray
    time_step: np.timedelta64
    grid: Grid
    variables: list[str]

    @property
    def issue_time(self) -> np.datetime64:
        return self.times[-1]

    def lead_times(self, k: int) -> np.ndarray:
        """timedelta64 (K,): 1 … K steps ahead."""
        return (np.arange(1, k + 1) * self.time_step).astype("timedelta64[ns]")


def has_glob(path: str) -> bool:
    return any(c in str(path) for c in "*?[")


def _is_url(path: str) -> bool:
    try:
        from predrnn.data.remote import is_url
    except ImportError:  # pragma: no cover - remote.py is part of the package
        return "://" in str(path)
    return is_url(str(path))


def looks_like_series(path: str) -> bool:
    """A URL, a glob, a netCDF / Zarr name, or a folder that is a Zarr store or holds netCDF files."""
    text = str(path)
    if _is_url(text) or has_glob(text):
        return True
    p = Path(text).expanduser()
    if p.suffix.lower() in SUFFIXES:
        return True
    if p.is_dir():
        if any((p / m).exists() for m in ("zarr.json", ".zgroup", ".zarray")):
            return True
        return any(c.suffix.lower() in SUFFIXES for c in p.iterdir())
    return False


def reads_series(data_cfg: Mapping, saved: Mapping, description: Mapping | None, path: str) -> bool:
    """Whether `path` is read as a series (else as data=arrays reads it). A model trained on
    data=arrays (its data settings name a key or layout, or its description another reader) or
    a `data.key` given keeps that reader, whatever the file. For a model trained through
    data=xarray (or with `data=xarray` given), a URL, a glob, a netCDF / Zarr name or a folder of
    them is a series, and so is any path that data=arrays can't read: a .npy of frames (the run's
    sample_input.npy) is still read as an array. A model trained on Moving MNIST reads a URL as a
    series, anything else as data=arrays does (which points CF files to data=xarray)."""
    reader = (description or {}).get("reader")
    arrays_trained = (reader is not None and reader != "xarray") or any(saved.get(k) is not None for k in _ARRAYS_KEYS)
    if arrays_trained or data_cfg.get("key") is not None:
        return False
    xarray_given = str(data_cfg.get("_target_", "")).endswith("XarrayDataModule")
    if reader == "xarray" or xarray_given:
        return looks_like_series(path) or not _arrays_readable(path)
    return remote.is_url(str(path))  # a model of another reader: only data=xarray reads a URL


def _arrays_readable(path: str) -> bool:
    """A folder, or a file with a suffix one of data=arrays' readers takes (its registry)."""
    from predrnn.data.readers.registry import readers

    p = Path(str(path)).expanduser()
    return p.is_dir() or any(p.suffix.lower() in reader.suffixes for reader in readers())


def trained_with_no_data(saved: Mapping, description: Mapping | None) -> bool:
    """Whether the model was trained on data with no-data pixels masked (data.no_data=mask): it
    then takes NaN in any input as no data."""
    return ((description or {}).get("no_data") or saved.get("no_data")) == "mask"


def series_settings(data_cfg: Mapping, saved: Mapping, description: Mapping | None) -> dict[str, Any]:
    """variables, dims, select, coarsen and time_step as the model was trained with: a `data.*`
    value given wins, then the checkpoint's data settings (`datamodule_hyper_parameters`, as the
    user gave them: null dims are found the CF way again), then its data description. A time
    range in the training `select` picked the training period: it is dropped. The time step and
    the storage options (credentials) come only from the command line; the model's step is
    checked against the data's (`read_observed_series`)."""
    description = description or {}
    out: dict[str, Any] = {}
    for key in SERIES_KEYS:
        given = _plain(data_cfg.get(key))
        if key in ("time_step", "storage_options") or given is not None:
            out[key] = given
        elif key in saved:
            out[key] = _plain(saved.get(key))
        else:
            out[key] = _plain(description.get(key))
    if _plain(data_cfg.get("select")) is None and out["select"]:
        times = {"time", *(d.get("time") for d in (description.get("dims") or {}, saved.get("dims") or {}))}
        out["select"] = {k: v for k, v in out["select"].items() if k not in times} or None
    return out


def _plain(value: Any) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def trained_variables(saved: Mapping, description: Mapping | None) -> list[str] | None:
    names = (description or {}).get("variables") or saved.get("variables")
    return None if names is None else [str(n) for n in ([names] if isinstance(names, str) else names)]


def trained_step(saved: Mapping, description: Mapping | None) -> np.timedelta64 | None:
    """The model's time step: its data description's (after coarsening), or the `time_step`
    its data settings gave times the time coarsening factor; None when neither says."""
    from predrnn.data.timeline import parse_step

    if (description or {}).get("time_step"):
        return parse_step(str(description["time_step"]), "time_step")
    if not saved.get("time_step"):
        return None
    factor = int(((saved.get("coarsen") or {}).get((saved.get("dims") or {}).get("time") or "time")) or 1)
    return parse_step(str(saved["time_step"]), "time_step") * factor


def _levels_of(channels: list[str], variables: list[str]) -> bool:
    """Whether `channels` are `variables` each split over the values data.select lists (r, t as
    r150, r500, t150, t500: docs/data.md, "CF netCDF and Zarr", selecting)."""
    if not variables or len(channels) % len(variables) or len(channels) == len(variables):
        return False
    n = len(channels) // len(variables)
    suffixes = [c[len(variables[0]) :] for c in channels[:n]]
    return channels == [v + s for v in variables for s in suffixes]


def check_same_variables(trained: list[str] | None, given: list[str], trained_where: str, given_where: str) -> None:
    """A model trained on other variables than the data's: one line naming both."""
    if trained is None or list(trained) == list(given) or _levels_of(list(trained), list(given)):
        return
    raise DataError(
        f"{trained_where} was trained on the variables {', '.join(trained)}, {given_where} gives "
        f"{', '.join(given)}: give data of the variables it was trained on, in that order "
        f"(data.variables=[{','.join(trained)}])"
    )


def check_same_units(description: Mapping | None, grid: Grid, trained_where: str, given_where: str) -> None:
    """A variable in other units than training's (mm/h for dBZ): one line naming both."""
    units = (description or {}).get("units")
    if not units:
        return
    for name, trained, attrs in zip(grid.variables, units, grid.variable_attrs, strict=False):
        given = attrs.get("units")
        if trained is not None and given is not None and str(trained) != str(given):
            raise DataError(
                f"{given_where} gives {name} in {given}, {trained_where} was trained on it in {trained}: "
                f"give {name} in {trained}"
            )


def read_observed_series(
    path: str,
    settings: Mapping[str, Any],
    input_length: int,
    model_step: np.timedelta64 | None,
    key: str = "input",
    trained: tuple[str, list[str]] | None = None,
) -> ObservedSeries:
    """The last `input_length` times of the series at `path`, which must be consecutive at the
    model's step `model_step` (when known). `trained`: (the checkpoint, its variables), named
    when the input lacks them."""
    from predrnn.data.timeline import iso, step_text
    from predrnn.data.xarray_source import open_series

    where = f"{key}={_shown(path)}"
    try:
        series = open_series(
            path, variables=settings.get("variables"), dims=settings.get("dims"), select=settings.get("select"),
            coarsen=settings.get("coarsen"), storage_options=settings.get("storage_options"),
            time_step=settings.get("time_step"), path_key=key,
        )  # fmt: skip
    except DataError as err:  # the checkpoint's variables, missing from the input: say whose they are
        text = str(err)
        if trained is None or not text.startswith("data.variables names") or "does not hold: " not in text:
            raise
        ckpt, names = trained
        raise DataError(
            f"{ckpt} was trained on the variables {', '.join(names)}, which {where} does not hold "
            f"({text.split('does not hold: ', 1)[1]}): give input of those variables"
        ) from None
    times = np.asarray(series.times).astype("datetime64[ns]")
    j = int(input_length)
    if len(times) < j:
        raise DataError(f"{where} holds {len(times)} times, the model observes input_length={j}: give at least {j}")
    step = np.timedelta64(series.time_step, "ns")
    if model_step is not None and step != np.timedelta64(model_step, "ns"):
        raise DataError(
            f"{where} has a time step of {step_text(step)}, the model was trained on steps of "
            f"{step_text(model_step)}: give data every {step_text(model_step)} (data.coarsen={{time: n}} averages n times)"
        )
    last = times[-j:]
    gaps = np.flatnonzero(np.diff(last) != step)
    if len(gaps):
        i = int(gaps[-1])
        raise DataError(
            f"{where}: its last {j} times are not consecutive at the step {step_text(step)} ({iso(last[i])} is "
            f"followed by {iso(last[i + 1])}): the model needs {j} times without a gap, ending at the issue time"
        )
    frames = np.asarray(series.read(len(times) - j, len(times)), dtype=np.float32)[None]
    if not np.isfinite(frames[0, -1]).any():
        raise DataError(
            f"{where} has no data at its last time {iso(last[-1])} (all of it NaN, no coverage): nothing to forecast "
            "from; give a series whose last time has data"
        )
    if np.isinf(frames).any():
        raise DataError(f"{where} holds infinite values in its last {j} times: give finite values (NaN: no data)")
    return ObservedSeries(frames, last, step, series.grid, list(series.variables))


def _shown(path: str) -> str:
    """`path` as messages show it: a URL without its secrets."""
    if not _is_url(path):
        return str(path)
    from predrnn.data.remote import redact

    return redact(str(path))


def shown_input(path: str) -> str:
    return _shown(path)


def input_files(path: str) -> list[str]:
    """The local files an output must not overwrite: `path`, and for a glob what it matches."""
    return [str(path), *sorted(glob.glob(str(Path(path).expanduser())))] if has_glob(path) else [str(path)]


def filled(frames: np.ndarray, low) -> np.ndarray:
    """`frames` (N, J, C, H, W) with NaN (no data) replaced by each channel's lowest training
    value, as the network saw no-data pixels in training (docs/data.md)."""
    low = np.asarray(low, dtype=np.float32).reshape(1, 1, -1, 1, 1)
    return np.where(np.isnan(frames), low, frames).astype(np.float32)


def valid_range(frames: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel (min, max) of `frames` (N, J, C, H, W) over the values that are not NaN."""
    low = np.nanmin(frames, axis=(0, 1, 3, 4))
    high = np.nanmax(frames, axis=(0, 1, 3, 4))
    return [float(v) for v in low], [float(v) for v in high]
