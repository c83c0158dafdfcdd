"""`data=xarray`: the Lightning data module over a forecaster's CF netCDF / Zarr archive
(docs/data.md, "CF netCDF and Zarr").

Opening the module reads headers and times only (`xarray_source.open_series`): the channels, the
frame size, the step, the gap-free runs and the splits in time are known at once. The windows of
a split are then fixed by one pass over its times (`windows`), which counts the valid pixels of
every time (a window whose valid fraction is at most `min_valid_fraction` is dropped, an all-NaN
one always), refuses NaN under `no_data=refuse` and inf always, and over the training split fits
the normalisation on valid pixels only. Loaders ship float32 (B, T, C, H, W) in data units with NaN
where there is no data; with `no_data=mask` the base class turns that into `{"frames", "valid"}`
on the device.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor
from torch.utils.data import Dataset
from typing_extensions import override

from predrnn import checks
from predrnn.compatibility import ServedFrames
from predrnn.data import timeline
from predrnn.data.base import WindowedDataModule, sha256_of
from predrnn.data.climatology import Climatology, ClimatologyFit
from predrnn.data.normalization import FLOAT32_MAX, KINDS, Normalization, fit_normalization
from predrnn.data.valid_stats import ValidStats
from predrnn.data.windows import SPLITS
from predrnn.data.xarray_source import Series, open_series
from predrnn.errors import BadValue, DataError

NO_DATA = ("mask", "refuse")
BLOCK = 64  # times read at once by the pass over a split
_NORTH = ("degrees_north", "degree_north", "degrees_n", "degree_n")
_SECRET = ("key", "secret", "token", "pass", "pwd", "credential", "sig", "auth", "sas", "header")


class SeriesWindows(Dataset):
    """Windows of a series: item i is times starts[i] … starts[i] + length − 1 as float32
    (T, C, H, W) in data units, NaN where there is no data; `__getitems__` gives a batch."""

    def __init__(self, series: Series, starts: np.ndarray, length: int, times: bool = False) -> None:
        self.series, self.starts, self.length = series, np.asarray(starts, np.int64), length
        self.times = times  # evaluation windows: batches are {"frames", "times"} (`__getitems__`)

    def __len__(self) -> int:
        return len(self.starts)

    def read(self, index: int) -> np.ndarray:
        start = int(self.starts[index])
        return self.series.read(start, start + self.length)

    def __getitem__(self, index: int) -> Tensor:
        return torch.from_numpy(self.read(index))

    def __getitems__(self, indices: list[int]) -> Tensor | dict[str, Tensor]:
        frames = torch.from_numpy(np.stack([self.read(i) for i in indices]))
        if not self.times:
            return frames
        # each frame's valid time, int64 seconds since 1970 (UTC): the ACC's climatology reads it
        starts = self.starts[np.asarray(indices, np.int64)]
        when = self.series.times[starts[:, None] + np.arange(self.length)].astype("datetime64[s]").astype(np.int64)
        return {"frames": frames, "times": torch.from_numpy(when)}


class XarrayDataModule(WindowedDataModule):
    """Windows of `total_length` consecutive times (at the series' step, never across a gap) of
    the channels `variables` of the series at `path`, split in time by `split_dates` or the
    fractions. See conf/data/xarray.yaml for every key."""

    more_data = " or data.stride, or give more times"  # the end of the "too few windows" line

    uint8 = False

    def __init__(
        self,
        path: str | list[str],
        variables: list[str] | None = None,
        select: Mapping | None = None,
        coarsen: Mapping | None = None,
        dims: Mapping | None = None,
        storage_options: Mapping | None = None,
        time_step: str | None = None,
        stride: int | None = None,
        eval_stride: int | None = None,
        split_dates: Mapping | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        no_data: str = "mask",
        min_valid_fraction: float = 0.0,
        normalize: str = "minmax",
        input_length: int = 10,
        total_length: int = 20,
        eval_total_length: int | None = None,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        seed: int = 0,
        pin_memory: bool = True,
        published: str | None = None,
    ) -> None:
        super().__init__(batch_size, eval_batch_size)
        checks.choice("normalize", normalize, KINDS, "minmax")
        checks.choice("no_data", no_data, NO_DATA, "mask")
        checks.number("min_valid_fraction", min_valid_fraction, 0.5, minimum=0.0, below=1.0)
        for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            checks.number(name, value, 0.1, minimum=0.0, below=1.0)
        if val_fraction + test_fraction >= 1:
            raise BadValue(
                "test_fraction", test_fraction, f"+ val_fraction={val_fraction} leaves nothing to train on", 0.1
            )
        self.check_loading(batch_size, eval_batch_size, num_workers, seed, pin_memory)
        checks.integer("total_length", total_length, 20, minimum=2)
        if eval_total_length is not None:
            checks.integer("eval_total_length", eval_total_length, 30, minimum=2)
        if stride is not None:
            checks.integer("stride", stride, total_length, minimum=1)
        if eval_stride is not None:
            checks.integer("eval_stride", eval_stride, 1, minimum=1)
        dates = _split_dates_key(split_dates)
        self.save_hyperparameters(ignore=["storage_options"])  # credentials never go into a checkpoint
        self.storage_options = storage_options
        self.no_data = no_data
        self.total_length = total_length
        self.stride = stride or total_length
        self.set_input_length(input_length)
        try:
            self.series = open_series(path, variables, dims, select, coarsen, storage_options, time_step)
        except DataError as err:  # a benchmark's experiment says where the set is published and its layout
            raise (DataError(f"{err}; {published}") if published else err) from None
        self.channels, height, width = self.series.frame_shape
        self.image_size = (height, width)
        times, step = self.series.times, self.series.time_step
        self._spans = timeline.runs(times, step)
        if dates is None:
            self._dates, self._split_how = timeline.fraction_boundaries(times, val_fraction, test_fraction), "fractions"
        else:
            timeline.check_dates(times, dates)
            self._dates, self._split_how = dates, "split_dates"
        self._parts = timeline.split_spans(times, self._spans, self._dates)
        timeline.check_runs(times, self._spans, total_length, step, "data.total_length")
        self._normalization: Normalization | None = None
        self._windows: dict[str, np.ndarray] = {}
        self._masked: dict[str, float] = {}
        self._ranges: dict[str, tuple[list[float], list[float]]] = {}
        self._stats: ValidStats | None = None
        self._climatology: Climatology | None = None
        # evaluation batches as {"frames", "times"}: set by build.evaluation_settings for a metric that takes_times
        self.times_in_batches = False
        self._valid = np.full(len(times), -1, np.int64)  # valid values per time, -1: not read yet
        how = "data.time_step" if time_step is not None else "the most common difference between consecutive times"
        if self.series.factors[0] > 1:
            how += f", {timeline.step_text(self.series.raw_step)} × data.coarsen.time={self.series.factors[0]}"
        rank_zero_info(
            f"data: {self.series.where}: {len(times)} times, {timeline.span_text(times)}, time step "
            f"{timeline.step_text(step)} ({how}), {len(self._spans)} gap-free runs, {self.channels} channel(s) "
            f"{height}x{width}"
        )

    def set_input_length(self, input_length: int) -> None:
        self.check_lengths(input_length, self.total_length)
        self.input_length = input_length
        self._eval_length = self.hparams.eval_total_length or self.total_length
        if self.eval_total_length <= input_length:
            raise BadValue(
                "eval_total_length", self.eval_total_length, f"must be more than input_length={input_length}",
                2 * input_length,
            )  # fmt: skip

    @property
    def eval_total_length(self) -> int:
        return self._eval_length

    @property
    def time_step(self) -> np.timedelta64:
        """The step between consecutive times of a window (after `coarsen` on time)."""
        return self.series.time_step

    # --- windows -----------------------------------------------------------------------------------
    def window_length(self, split: str) -> int:
        return self.total_length if split == "train" else self.eval_total_length

    def windows(self, split: str) -> np.ndarray:
        """The first time of every window of `split` that has enough valid values; the pass over
        the split's times runs on the first call. An empty split is a DataError."""
        if split not in self._windows:
            times, length = self.series.times, self.window_length(split)
            key = "data.total_length" if split == "train" else "data.eval_total_length"
            stride = self.stride if split == "train" else (self.hparams.eval_stride or length)
            starts = timeline.window_starts(self._parts[split], length, stride)
            if not len(starts):
                timeline.check_runs(times, self._spans, length, self.time_step, key)
                timeline.check_split(times, split, self._parts[split], starts, length, self._how())
            self._scan(split)
            valid = self._window_valid(starts, length)
            keep = valid > self.hparams.min_valid_fraction
            if not keep.any():
                raise DataError(
                    f"every one of the {len(starts)} windows of the {split} split has at most "
                    f"data.min_valid_fraction={self.hparams.min_valid_fraction} of its values with data: lower it, "
                    "or give data with more coverage"
                )
            self._windows[split] = starts[keep]
            self._masked[split] = float(1 - valid[keep].mean())
            self._announce(split, int((~keep).sum()))
        return self._windows[split]

    def _how(self) -> str:
        h = self.hparams
        if self._split_how == "split_dates":
            return f"data.split_dates val={timeline.iso(self._dates['val'])} test={timeline.iso(self._dates['test'])}"
        return f"data.val_fraction={h.val_fraction}, data.test_fraction={h.test_fraction}"

    def _window_valid(self, starts: np.ndarray, length: int) -> np.ndarray:
        """The fraction of values with data of each window."""
        total = np.concatenate([[0], np.cumsum(self._valid)])
        per_time = int(np.prod(self.series.frame_shape))
        return (total[starts + length] - total[starts]) / (length * per_time)

    def _announce(self, split: str, dropped: int) -> None:
        s = self.data_summary()[split]
        note = f", {dropped} windows dropped (valid fraction <= {self.hparams.min_valid_fraction})" if dropped else ""
        rank_zero_info(
            f"data: {split} split: {s['windows']} windows of {self.window_length(split)} times, {s['first_time']} to "
            f"{s['last_time']}, step {s['time_step']}, {s['masked_fraction']:.1%} without data{note}"
        )

    def _scan(self, split: str) -> None:
        """One pass over the times of `split`: valid values per time; NaN refused under
        no_data=refuse and inf always (naming the time); NaN-aware statistics (train) or range."""
        if split in self._ranges:
            return
        stats = ValidStats(self.channels)
        for a, b in self._parts[split]:
            for start in range(a, b, BLOCK):
                frames = self.series.read(start, min(b, start + BLOCK))
                self._check_values(frames, start)
                self._valid[start : start + len(frames)] = (~np.isnan(frames)).sum(axis=(1, 2, 3))
                stats.update(frames)
        empty = [v for v, n in zip(self.series.variables, stats.counts) if n == 0]
        if empty and split == "train":
            raise DataError(
                f"{empty[0]} has no value with data in the training split of {self.series.where}: give data with "
                "coverage there, or move the split"
            )
        if split == "train":
            self._stats = stats
        self._ranges[split] = ([float(v) for v in stats.min], [float(v) for v in stats.max])

    def _check_values(self, frames: np.ndarray, start: int) -> None:
        bad = np.isinf(frames) | (np.isnan(frames) if self.no_data == "refuse" else False)
        if not bad.any():
            return
        t, c = (int(i) for i in np.argwhere(bad)[0][:2])
        when = timeline.iso(self.series.times[start + t])
        variable = self.series.variables[c]
        if np.isinf(frames[t, c]).any():
            raise DataError(
                f"{variable} of {self.series.where} holds inf (or a value beyond float32's ±{FLOAT32_MAX:.3g}) at "
                f"{when}: fix those values, or mark them missing (_FillValue / valid_max)"
            )
        raise DataError(
            f"{variable} of {self.series.where} has no data (NaN: _FillValue, missing_value or outside valid_range) "
            f"at {when} and data.no_data=refuse: set data.no_data=mask to learn and score on the pixels with data only"
        )

    # --- what the rest of predrnn reads --------------------------------------------------------
    @property
    def normalization(self) -> Normalization:
        """Fitted on the valid values of the training split, unless a model's was adopted."""
        if self._normalization is None:
            self._scan("train")
            self._normalization = fit_normalization(self.hparams.normalize, self._stats, False, self.channels)
        return self._normalization

    def served_frames(self) -> ServedFrames:
        return ServedFrames(
            (self.channels, *self.image_size), f"{self.series.where} frames are {{shape}} ({', '.join(self.series.variables)})",
            "give data of that shape (the same data.variables, data.select and data.coarsen)",
        )  # fmt: skip

    def adopt(self, network, normalization: Normalization) -> None:
        """Serve data for a trained model (eval): its observed length, its units."""
        self.set_input_length(network.input_length)
        self._normalization = normalization
        self._windows.clear()
        self._masked.clear()

    def check_sources(self, splits: tuple[str, ...] = SPLITS) -> None:
        """Before a run writes anything: the windows of `splits` (training: at least a batch),
        the pass over their times, the statistics."""
        for split in splits:
            self.windows(split)
        if "train" in splits:
            self.check_batch(len(self.windows("train")), processes=1)
        _ = self.normalization

    @override
    def value_range(self, split: str) -> tuple[list[float], list[float]] | None:
        return self._ranges.get(split)

    def data_summary(self) -> dict[str, dict[str, Any]]:
        """Per split whose windows are known: {"windows", "first_time", "last_time", "time_step",
        "masked_fraction"} (JSON-able; the run records it in summary.json)."""
        out = {}
        for split in (s for s in SPLITS if s in self._windows):
            starts, length = self._windows[split], self.window_length(split)
            out[split] = {
                "windows": len(starts),
                "first_time": timeline.iso(self.series.times[starts[0]]),
                "last_time": timeline.iso(self.series.times[starts[-1] + length - 1]),
                "time_step": timeline.step_text(self.time_step),
                "masked_fraction": self._masked[split],
            }
        return out

    def window_times(self, split: str) -> list[np.ndarray]:
        """The times (datetime64[ns]) of each window of `split`, in the loaders' order."""
        length = self.window_length(split)
        return [self.series.times[s : s + length] for s in self.windows(split)]

    def description(self) -> dict[str, Any]:
        """What the model is trained on (JSON-able): the series' description and `no_data`."""
        return {**self.series.description(), "no_data": self.no_data,
                "min_valid_fraction": self.hparams.min_valid_fraction}  # fmt: skip

    def metric_inputs(self, names: Collection[str] = ("latitudes",)) -> dict[str, Any]:
        """What a metric may take from the data (its `from_data`, docs/metrics.md), of `names`:
        `latitudes`, the degrees of each frame row where y is a latitude coordinate (else
        absent); `climatology`, the training split's mean per day of year and hour (fitted on
        the first call, or the checkpoint's), refused in one line where the windows scored hold
        an hour of day it has no mean for."""
        out: dict[str, Any] = {}
        grid = self.series.grid
        attrs = {k: str(v).lower() for k, v in grid.y_attrs.items()}
        if attrs.get("standard_name") == "latitude" or attrs.get("units") in _NORTH or grid.y in ("lat", "latitude"):
            out["latitudes"] = [float(v) for v in np.asarray(grid.y_values, np.float64)]
        if "climatology" in names:
            out["climatology"] = self.climatology
            self._check_climatology_hours(out["climatology"])
        return out

    @property
    def climatology(self) -> Climatology:
        """The mean of the training split per (day of year, hour) and channel, in data units
        (`data/climatology.py`): one pass over its times on first use, unless a checkpoint's
        was adopted (`adopt_climatology`)."""
        if self._climatology is None:
            fit = ClimatologyFit()
            for a, b in self._parts["train"]:
                for start in range(a, b, BLOCK):
                    stop = min(b, start + BLOCK)
                    fit.update(self.series.read(start, stop), self.series.times[start:stop])
            if not fit.sums:
                raise DataError(f"the training split of {self.series.where} holds no times, from which the "
                                f"climatology of metrics=weather's acc is fitted: move the split ({self._how()})")  # fmt: skip
            self._climatology = fit.result()
        return self._climatology

    def adopt_climatology(self, climatology: Climatology) -> None:
        """Score against a checkpoint's climatology (`predrnn-eval`), never re-reading the training years."""
        self._climatology = climatology

    def _check_climatology_hours(self, climatology: Climatology) -> None:
        """Every hour of day of the validation and test times must have a climatology."""
        for split in ("val", "test"):
            for a, b in self._parts.get(split, ()):
                missing = climatology.missing_hours(self.series.times[a:b])
                if missing:
                    raise DataError(
                        f"the {split} split of {self.series.where} has times at {missing[0]:02d}:00, an hour of day the "
                        f"training split (the climatology of metrics=weather's acc) never holds (it holds "
                        f"{', '.join(f'{h:02d}' for h in climatology.hours_held)}): give training times at every "
                        "hour scored, or remove the score with ~metrics.acc"
                    )

    def test_set_definition(self) -> dict[str, Any]:
        h, d = self.hparams, self.series.description()
        definition: dict[str, Any] = {
            "path": self._path_text(), "variables": d["variables"], "dims": d["dims"], "select": d["select"],
            "coarsen": d["coarsen"], "time_step": timeline.step_text(self.series.raw_step),
            "total_length": self.eval_total_length, "no_data": self.no_data,
            "min_valid_fraction": h.min_valid_fraction,
        }  # fmt: skip
        if h.get("eval_stride") is not None:
            definition["eval_stride"] = h.eval_stride
        if self._split_how == "split_dates":
            definition["split_dates"] = {k: timeline.iso(v) for k, v in self._dates.items()}
        else:
            definition.update(val_fraction=h.val_fraction, test_fraction=h.test_fraction)
        local = Path(definition["path"]) if not self.series.remote and isinstance(definition["path"], str) else None
        if local is not None and local.is_file():
            definition["sha256"] = sha256_of(local)
        if "test" in self._windows:
            starts = self._windows["test"]
            definition["windows"] = self.data_summary()["test"]
            definition["files"] = self.series.files(int(starts[0]), int(starts[-1]) + self.eval_total_length)[:1000]
        return definition

    def _path_text(self) -> str | list[str]:
        if self.series.remote:
            return self.series.where.split("=", 1)[1]
        path = self.hparams.path
        if not isinstance(path, str):  # several folders, one variable each (xarray_source.JoinedSeries)
            return [str(Path(p).expanduser().resolve()) for p in path]
        return str(Path(path).expanduser().resolve())

    def command_overrides(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The overrides predrnn-eval and predrnn-predict need to read this data: (eval, predict)."""
        h = self.hparams
        read = {"variables": list(self.series.sources)}  # the files' variables (the channels may be their levels)
        dims = {k: v for k, v in (h.dims or {}).items() if v is not None}  # the ones named, not found
        read.update({k: v for k, v in (("dims", dims), ("select", h.select), ("coarsen", h.coarsen)) if v})
        read["time_step"] = timeline.step_text(self.series.raw_step)
        options = _public(self.storage_options or {})
        if options:
            read["storage_options"] = options
        given: dict[str, Any] = {}
        if self._split_how == "split_dates":
            given["split_dates"] = {k: timeline.iso(v) for k, v in self._dates.items()}
        else:
            given.update({k: h[k] for k in ("val_fraction", "test_fraction") if h[k] != 0.1})
        for key, default in (("no_data", "mask"), ("min_valid_fraction", 0.0)):
            if h[key] != default:
                given[key] = h[key]
        if h.eval_total_length is None:
            given["total_length"] = h.total_length
        else:
            given["eval_total_length"] = h.eval_total_length
        if h.get("eval_stride") is not None:
            given["eval_stride"] = h.eval_stride
        text = {f"data.{k}": v for k, v in read.items()}
        split = {f"data.{k}": v for k, v in given.items()}
        return {"data": "xarray", "data.path": self._path_text(), **text, **split}, {"data": "xarray", **text}

    # --- loaders ---------------------------------------------------------------------------------
    def dataset(self, split: str) -> SeriesWindows:
        return SeriesWindows(self.series, self.windows(split), self.window_length(split))

    @override
    def eval_dataset(self, split: str) -> SeriesWindows:
        """The windows of `split`; with `times_in_batches` (a metric takes them, docs/metrics.md),
        with each frame's valid time (`{"frames", "times"}` batches)."""
        return SeriesWindows(self.series, self.windows(split), self.window_length(split), times=self.times_in_batches)


def _split_dates_key(split_dates) -> dict[str, np.datetime64] | None:
    if split_dates is None:
        return None
    if not isinstance(split_dates, Mapping) or set(split_dates) != {"val", "test"}:
        raise BadValue("split_dates", split_dates, "must give the first val and test dates, or be null",
                       "{val: '2019-01-01', test: '2019-06-01'}")  # fmt: skip
    return {k: timeline.parse_time(split_dates[k], f"split_dates.{k}") for k in ("val", "test")}


def _public(options: Mapping) -> dict:
    """`storage_options` without anything that may be a credential, at any depth."""
    out = {}
    for key, value in options.items():
        if any(word in str(key).lower() for word in _SECRET):
            continue
        value = _public(value) if isinstance(value, Mapping) else value
        if value != {}:
            out[key] = value
    return out
