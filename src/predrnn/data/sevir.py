"""`data=sevir`: SEVIR's VIL radar mosaics as released (docs/benchmarks.md, "SEVIR").

The root (`data.path`) holds `CATALOG.csv` and `data/`, as on the AWS open data registry
(`s3://sevir`). Events are chosen through the catalog as Earthformer's and PreDiff's loaders choose
them: rows of image type `vil`, dates kept as `start < time_utc <= end` per split, rows with missing
data dropped (`pct_missing == 0`), and an id listed twice dropped. Each event is one row of a HDF5
file's `vil` dataset, (N, 384, 384, 49) uint8 five minutes apart, read lazily with h5py (one handle
per process, only the frames of a window). An event gives the windows of `total_length` frames
starting at 0, stride, 2·stride, … (after the time downsampling), so no window crosses two events
and every window of an event is in the event's split.

Splits: by date (`split_dates`, Earthformer) or, with `val_ratio`, PreDiff's: the windows of the
events up to the test date, in PreDiff's event order, split at random into train and validation by
torch's `random_split` seeded with `split_seed`. Frames leave the loaders as float32 VIL (0–255,
the data's units, which `metrics=sevir` scores); the model sees VIL / 255.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor
from torch.utils.data import Dataset

from predrnn import checks
from predrnn.compatibility import ServedFrames
from predrnn.data import timeline
from predrnn.data.base import WindowedDataModule, sha256_of
from predrnn.data.normalization import Normalization
from predrnn.data.windows import SPLITS
from predrnn.errors import BadValue, DataError
from predrnn.extras import require

IMAGE_TYPE = "vil"  # Earthformer sevir_torch_wrap.py#L40: data_types=["vil"]
FRAMES, SIZE, STEP_MIN = 49, 384, 5  # an event: 49 frames of 384 × 384, 5 minutes apart
COLUMNS = ("id", "file_name", "file_index", "img_type", "time_utc", "pct_missing")
WHERE = (
    "SEVIR is published on the AWS open data registry (aws s3 sync --no-sign-request s3://sevir ROOT); "
    "data.path=ROOT must hold CATALOG.csv and data/vil/YYYY/SEVIR_VIL_*.h5"
)
# PreDiff sevir_torch_wrap.py#L92: shuffle_seed=1, applied twice (sevir_dataloader.py#L271, #L515)
PREDIFF_EVENT_SEED = 1


def sevir_error(what: str) -> DataError:
    return DataError(f"{what}: {WHERE}")


def read_catalog(root: Path):
    """CATALOG.csv with the columns the reference loaders read; a DataError naming the layout."""
    pd = require("pandas", "sevir", "data=sevir")

    path = root / "CATALOG.csv"
    if not root.is_dir():
        raise sevir_error(f"data.path={root} is not a folder")
    if not path.is_file():
        raise sevir_error(f"data.path={root} has no CATALOG.csv")
    try:
        catalog = pd.read_csv(path, low_memory=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise sevir_error(f"{path} is not a CSV file ({str(err).splitlines()[0]})") from None
    missing = [c for c in COLUMNS if c not in catalog.columns]
    if missing:
        raise sevir_error(f"{path} lacks the column(s) {', '.join(missing)}")
    times = pd.to_datetime(catalog["time_utc"], errors="coerce")
    if times.isna().any():
        row = int(times.isna().to_numpy().argmax())
        raise sevir_error(f"{path} row {row + 2} has time_utc={catalog['time_utc'].iloc[row]!r}, not a time")
    catalog["time_utc"] = times.dt.tz_localize(None) if times.dt.tz is not None else times
    for column in ("file_index", "pct_missing"):
        values = pd.to_numeric(catalog[column], errors="coerce")
        if values.isna().any():
            row = int(values.isna().to_numpy().argmax())
            raise sevir_error(f"{path} row {row + 2} has {column}={catalog[column].iloc[row]!r}, not a number")
        catalog[column] = values
    return catalog


def select_events(catalog, start: np.datetime64 | None, end: np.datetime64 | None):
    """The `vil` events with start < time_utc <= end, no missing data, listed once: a DataFrame
    (id, file_name, file_index, time_utc) in id order (Earthformer sevir_dataloader.py#L212-L241)."""
    rows = catalog
    if start is not None:
        rows = rows[rows.time_utc > start]
    if end is not None:
        rows = rows[rows.time_utc <= end]
    rows = rows[rows.pct_missing == 0]
    rows = rows[rows.img_type == IMAGE_TYPE]
    counts = rows.groupby("id")["id"].transform("size")
    rows = rows[counts == 1]  # an id listed twice is dropped (SEVIR's duplicates)
    return rows.sort_values("id", kind="stable").reset_index(drop=True)


class SevirEvents:
    """The chosen events' HDF5 rows; `read(event, start, stop)` gives frames start..stop-1 of the
    downsampled event as float32 (t, 1, H', W')."""

    def __init__(self, root: Path, events, time_factor: int, space_factor: int) -> None:
        self.root, self.events = root, events
        self.time_factor, self.space_factor = time_factor, space_factor
        self.length = (FRAMES + time_factor - 1) // time_factor
        self.size = SIZE // space_factor
        self._handles: tuple[int, dict] = (-1, {})

    def __len__(self) -> int:
        return len(self.events)

    def file(self, name: str):
        h5py = require("h5py", "sevir", "data=sevir")

        pid, handles = self._handles
        if pid != os.getpid():  # one set of handles per process (loader workers)
            self._handles = pid, handles = os.getpid(), {}
        if name not in handles:
            handles[name] = h5py.File(self.root / "data" / name, "r")
        return handles[name]

    def check(self) -> None:
        """Every file the events name exists and holds `vil` (N, 384, 384, 49) uint8 with the row."""
        h5py = require("h5py", "sevir", "data=sevir")

        for name, rows in self.events.groupby("file_name", sort=True):
            path = self.root / "data" / name
            if not path.is_file():
                raise sevir_error(f"CATALOG.csv names data/{name}, which is missing")
            try:
                with h5py.File(path, "r") as f:
                    node = f.get(IMAGE_TYPE)
                    if not isinstance(node, h5py.Dataset):
                        raise sevir_error(f"data/{name} has no dataset '{IMAGE_TYPE}'")
                    shape, dtype = node.shape, node.dtype
                    if node.external or node.is_virtual:
                        raise sevir_error(f"data/{name}[{IMAGE_TYPE}] keeps its bytes in other files")
            except OSError as err:
                raise sevir_error(f"data/{name} is not a readable HDF5 file ({err})") from None
            if len(shape) != 4 or tuple(shape[1:]) != (SIZE, SIZE, FRAMES) or dtype != np.uint8:
                raise sevir_error(
                    f"data/{name}[{IMAGE_TYPE}] is {dtype} {tuple(shape)}, not uint8 (N, {SIZE}, {SIZE}, {FRAMES})"
                )
            if int(rows.file_index.max()) >= shape[0] or int(rows.file_index.min()) < 0:
                raise sevir_error(
                    f"CATALOG.csv names row {int(rows.file_index.max())} of data/{name}, which has {shape[0]}"
                )

    def read(self, event: int, start: int, stop: int) -> np.ndarray:
        row = self.events.iloc[event]
        f = self.time_factor
        raw = self.file(row.file_name)[IMAGE_TYPE][int(row.file_index), :, :, start * f : (stop - 1) * f + 1]
        frames = np.moveaxis(raw[:, :, ::f], -1, 0).astype(np.float32)  # (t, H, W)
        s = self.space_factor
        if s > 1:  # block maxima, as SEVIR-LR was made (Earthformer sevir_dataloader.py#L484-L486)
            t, h, w = frames.shape
            frames = frames.reshape(t, h // s, s, w // s, s).max(axis=(2, 4))
        return frames[:, None]

    def times(self, event: int) -> np.ndarray:
        """The times of the event's frames after downsampling (time_utc + 5 min × k − 120 min)."""
        start = np.datetime64(self.events.time_utc.iloc[event].to_datetime64(), "ns")
        offsets = np.arange(0, FRAMES, self.time_factor) * STEP_MIN - 120
        return start + offsets.astype("timedelta64[m]").astype("timedelta64[ns]")


class EventWindows(Dataset):
    """Windows [(event, start)] of `length` frames: float32 (T, 1, H, W) in VIL units."""

    def __init__(self, events: SevirEvents, windows: list[tuple[int, int]], length: int) -> None:
        self.events, self.windows, self.length = events, windows, length

    def __len__(self) -> int:
        return len(self.windows)

    def read(self, index: int) -> np.ndarray:
        event, start = self.windows[index]
        return self.events.read(event, start, start + self.length)

    def __getitem__(self, index: int) -> Tensor:
        return torch.from_numpy(self.read(index))

    def __getitems__(self, indices: list[int]) -> Tensor:
        return torch.from_numpy(np.stack([self.read(i) for i in indices]))


class SevirDataModule(WindowedDataModule):
    """SEVIR VIL windows under a published protocol (conf/data/sevir.yaml for every key)."""

    uint8 = False
    channels = 1

    def __init__(
        self,
        path: str,
        input_length: int = 13,
        total_length: int = 25,
        stride: int = 12,
        downsample: Mapping | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        split_dates: Mapping | None = None,
        val_ratio: float | None = None,
        split_seed: int = 0,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        seed: int = 0,
        pin_memory: bool = True,
    ) -> None:
        super().__init__(batch_size, eval_batch_size)
        self.check_loading(batch_size, eval_batch_size, num_workers, seed, pin_memory)
        self.check_lengths(input_length, total_length)
        checks.integer("stride", stride, 12, minimum=1)
        checks.integer("split_seed", split_seed, 0)
        factors = dict(downsample or {})
        if set(factors) - {"time", "space"}:
            raise BadValue("downsample", factors, "may name time and space only", "{time: 2, space: 3}")
        time_factor = checks.integer("downsample.time", factors.get("time", 1), 2, minimum=1)
        space_factor = checks.integer("downsample.space", factors.get("space", 1), 3, minimum=1)
        if SIZE % space_factor:
            raise BadValue("downsample", factors, f"space must divide {SIZE}", "{time: 2, space: 3}")
        dates = _dates(split_dates, val_ratio)
        if val_ratio is not None:
            checks.number("val_ratio", val_ratio, 0.1, minimum=0.0, below=1.0)
        self.save_hyperparameters()
        self.input_length, self.total_length, self.stride = input_length, total_length, stride
        self.root = Path(path).expanduser()
        catalog = read_catalog(self.root)
        bounds = {k: None if v is None else timeline.parse_time(v, f"data.{k}") for k, v in
                  (("start_date", start_date), ("end_date", end_date))}  # fmt: skip
        every = select_events(catalog, bounds["start_date"], bounds["end_date"])
        self.events = SevirEvents(self.root, every, time_factor, space_factor)
        self.events.check()
        self.image_size = (self.events.size, self.events.size)
        if total_length > self.events.length:
            raise BadValue(
                "total_length", total_length, f"must fit in an event's {self.events.length} frames", self.events.length
            )
        self._normalization: Normalization | None = None
        self._windows = self._split(every, dates, val_ratio, split_seed)
        rank_zero_info(
            f"data: SEVIR at {self.root}: {len(every)} {IMAGE_TYPE} events, "
            + ", ".join(f"{s} {len(w)} windows" for s, w in self._windows.items())
        )

    def _split(self, every, dates, val_ratio, split_seed) -> dict[str, list[tuple[int, int]]]:
        per_event = list(range(0, self.events.length - self.total_length + 1, self.stride))
        times = every.time_utc.to_numpy().astype("datetime64[ns]")
        test = np.flatnonzero(times > dates["test"])
        if val_ratio is None:
            train = np.flatnonzero(times <= dates["val"])
            val = np.flatnonzero((times > dates["val"]) & (times <= dates["test"]))
            parts = {"train": train, "val": val, "test": test}
            windows = {s: [(int(e), t) for e in events for t in per_event] for s, events in parts.items()}
        else:
            from torch.utils.data import random_split

            pd = require("pandas", "sevir", "data=sevir")

            before = np.flatnonzero(times <= dates["test"])
            order = pd.Series(before)
            for _ in range(2):  # PreDiff shuffles its events twice with the same seed
                order = order.sample(frac=1, random_state=PREDIFF_EVENT_SEED)
            pool = [(int(e), t) for e in order.to_numpy() for t in per_event]
            generator = torch.Generator().manual_seed(split_seed)
            train_part, val_part = random_split(range(len(pool)), [1 - val_ratio, val_ratio], generator=generator)
            windows = {
                "train": [pool[i] for i in train_part.indices],
                "val": [pool[i] for i in val_part.indices],
                "test": [(int(e), t) for e in test for t in per_event],
            }
        for split in SPLITS:
            if not windows[split]:
                raise DataError(
                    f"the {split} split of SEVIR at {self.root} holds no event (dates {_text(dates)}): give the "
                    f"folder holding the whole release, or move data.split_dates ({WHERE})"
                )
        return windows

    # --- the surface the rest of predrnn reads ------------------------------------------------
    @property
    def normalization(self) -> Normalization:
        """VIL / 255 (Earthformer's '01' rescaling, sevir_dataloader.py#L35-L38); VIL units 0–255
        are the data's units, which `metrics=sevir` scores."""
        if self._normalization is None:
            self._normalization = Normalization("minmax", [0.0], [255.0], [0.0], [255.0], uint8=False)
        return self._normalization

    def served_frames(self) -> ServedFrames:
        return ServedFrames(
            (1, *self.image_size), f"SEVIR at {self.root} gives {{shape}} frames",
            "give the data.downsample it was trained with",
        )  # fmt: skip

    def adopt(self, network, normalization: Normalization) -> None:
        self.check_lengths(network.input_length, self.total_length)
        self.input_length = network.input_length
        self._normalization = normalization

    def check_sources(self, splits: tuple[str, ...] = SPLITS) -> None:
        if "train" in splits:
            self.check_batch(len(self._windows["train"]), processes=1)

    def data_summary(self) -> dict[str, dict[str, Any]]:
        """Per split: events, windows, the first and last time of its windows, the time step."""
        out = {}
        for split, windows in self._windows.items():
            firsts = [self.events.times(e)[s] for e, s in windows]
            lasts = [self.events.times(e)[s + self.total_length - 1] for e, s in windows]
            out[split] = {
                "events": len({e for e, _ in windows}),
                "windows": len(windows),
                "first_time": timeline.iso(min(firsts)),
                "last_time": timeline.iso(max(lasts)),
                "time_step": f"{STEP_MIN * self.events.time_factor}min",
            }
        return out

    def description(self) -> dict[str, Any]:
        return {"variables": [IMAGE_TYPE], "units": ["VIL (0-255)"], "time_step": f"{STEP_MIN * self.events.time_factor}min",
                "downsample": {"time": self.events.time_factor, "space": self.events.space_factor}}  # fmt: skip

    def test_set_definition(self) -> dict[str, Any]:
        h = self.hparams
        events = self.events.events
        test = sorted({e for e, _ in self._windows["test"]})
        return {
            "path": str(self.root.resolve()), "catalog_sha256": sha256_of(self.root / "CATALOG.csv"),
            "split_dates": dict(h.split_dates), "val_ratio": h.val_ratio, "total_length": self.total_length,
            "stride": self.stride, "downsample": dict(h.downsample or {}),
            "events": [str(events.id.iloc[e]) for e in test][:1000], "windows": self.data_summary()["test"],
        }  # fmt: skip

    def command_overrides(self) -> tuple[dict[str, Any], dict[str, Any]]:
        h = self.hparams
        keys = ("total_length", "stride", "downsample", "start_date", "end_date", "split_dates", "val_ratio")
        given = {f"data.{k}": h[k] for k in keys if h[k] is not None}
        return {"data": "sevir", "data.path": str(self.root.resolve()), **given}, {}

    # --- loaders ---------------------------------------------------------------------------
    def windows(self, split: str) -> list[tuple[int, int]]:
        return self._windows[split]

    def dataset(self, split: str) -> EventWindows:
        return EventWindows(self.events, self._windows[split], self.total_length)


def _dates(split_dates, val_ratio) -> dict[str, np.datetime64]:
    example = "{val: '2019-01-01', test: '2019-06-01'}"
    if not isinstance(split_dates, Mapping) or not set(split_dates) <= {"val", "test"} or "test" not in split_dates:
        raise BadValue("split_dates", split_dates, "must give the test date (and the val date, or val_ratio)", example)
    if (split_dates.get("val") is None) == (val_ratio is None):
        raise BadValue("split_dates", dict(split_dates), "needs a val date, or val_ratio instead (not both)", example)
    dates = {k: timeline.parse_time(v, f"split_dates.{k}") for k, v in split_dates.items() if v is not None}
    if "val" in dates and dates["val"] >= dates["test"]:
        raise BadValue("split_dates", dict(split_dates), "must have val before test", example)
    return dates


def _text(dates: Mapping[str, np.datetime64]) -> str:
    return ", ".join(f"{k}={timeline.iso(v)}" for k, v in dates.items())
