"""The climatology that `metrics=weather`'s anomaly correlation (ACC) measures anomalies against
(docs/metrics.md, "Weather scores"): the mean of the training split per (day of year, hour of
day) and channel, in data units, fitted by `data=xarray` and kept in the checkpoint.

Days of year are numbered as WeatherBench 2 (and xarray's `dt.dayofyear`) number them: 1 on
1 January, 366 on 31 December of a leap year, so that 1 March is day 60 or day 61. A (day, hour)
pair the training split does not hold takes the mean of the nearest day of year (circularly, the
day before on a tie) that it holds at that hour: day 366 of a training split without a leap year
takes day 365, as WeatherBench 2 fills it. An hour of day the training split never holds has no
climatology: the data module refuses scored windows at such an hour (one line) before a run.
No smoothing over days (WeatherBench 2 smooths with a 61-day window over its 1990-2017
climatology): a training split of few years gives a noisier climatology, said in the docs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

DAYS, HOURS = 366, 24


def day_and_hour(times) -> tuple[np.ndarray, np.ndarray]:
    """(day of year 1..366, hour 0..23) of `times` (datetime64, or int64 seconds since 1970, UTC)."""
    t = np.asarray(times)
    if not np.issubdtype(t.dtype, np.datetime64):
        t = t.astype("int64").astype("datetime64[s]")
    t = t.astype("datetime64[s]")
    day = (t.astype("datetime64[D]") - t.astype("datetime64[Y]")).astype(np.int64) + 1
    hour = (t - t.astype("datetime64[D]")).astype("timedelta64[h]").astype(np.int64)
    return day, hour


class Climatology:
    """The mean per (day of year, hour) held by the training split: `days`, `hours` (N,) and
    `values` float32 (N, C, H, W) (NaN at a pixel with no training value there), plus the table
    from every (day, hour) to its row (the nearest held day at that hour; -1 for an hour the
    training split never holds)."""

    def __init__(self, days, hours, values) -> None:
        self.days = np.asarray(days, np.int64)
        self.hours = np.asarray(hours, np.int64)
        self.values = torch.as_tensor(values, dtype=torch.float32)
        if not (len(self.days) == len(self.hours) == len(self.values) > 0):
            raise ValueError("a climatology needs at least one (day, hour) with as many values")
        self.table = np.full((DAYS + 1, HOURS), -1, np.int64)  # row 0 unused: days count from 1
        all_days = np.arange(1, DAYS + 1)
        for hour in np.unique(self.hours):
            rows = np.flatnonzero(self.hours == hour)
            held = self.days[rows]
            back = (all_days[:, None] - held[None, :]) % DAYS  # days back to a held day, across the year's end
            gap = np.minimum(back, DAYS - back) * 2 + (back > DAYS - back)  # ties: the day before
            self.table[1:, hour] = rows[np.argmin(gap, axis=1)]

    @property
    def hours_held(self) -> list[int]:
        return sorted(int(h) for h in np.unique(self.hours))

    def missing_hours(self, times) -> list[int]:
        """The hours of day among `times` that have no climatology."""
        return sorted(set(int(h) for h in np.unique(day_and_hour(times)[1])) - set(self.hours_held))

    def lookup(self, times: Tensor) -> Tensor:
        """(B, K) valid times (int64 seconds since 1970) -> (B, K, C, H, W) climatology; a
        ValueError for an hour it has none of."""
        day, hour = day_and_hour(times.detach().cpu().numpy())
        rows = self.table[day, hour]
        if (rows < 0).any():
            raise ValueError(f"the climatology has no hour {int(hour[rows < 0][0]):02d}:00 (only {self.hours_held})")
        return self.values[torch.from_numpy(rows)]

    def state(self) -> dict[str, Tensor]:
        """Tensors for the checkpoint (`torch.load(weights_only=True)` reads them back)."""
        return {"days": torch.from_numpy(self.days), "hours": torch.from_numpy(self.hours), "values": self.values}

    @classmethod
    def from_state(cls, state) -> Climatology:
        return cls(np.asarray(state["days"]), np.asarray(state["hours"]), state["values"])

    def __repr__(self) -> str:  # short: it can appear in a printed config
        return f"Climatology({len(self.days)} (day, hour) means of {tuple(self.values.shape[1:])})"


class ClimatologyFit:
    """Sums and counts per (day of year, hour) of frames (T, C, H, W) added block by block."""

    def __init__(self) -> None:
        self.sums: dict[tuple[int, int], np.ndarray] = {}
        self.counts: dict[tuple[int, int], np.ndarray] = {}

    def update(self, frames: np.ndarray, times) -> None:
        day, hour = day_and_hour(times)
        for key in set(zip(day.tolist(), hour.tolist())):
            pick = (day == key[0]) & (hour == key[1])
            block = frames[pick].astype(np.float64)
            missing = np.isnan(block)
            # a count per pixel only where some pixel has no data (no_data=mask), else one number
            count = (~missing).sum(axis=0) if missing.any() else np.int64(len(block))
            total = np.nansum(block, axis=0)
            if key in self.sums:
                self.sums[key] += total
                self.counts[key] += count
            else:
                self.sums[key], self.counts[key] = total, count

    def result(self) -> Climatology:
        keys = sorted(self.sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.stack([np.where(self.counts[k] > 0, self.sums[k] / self.counts[k], np.nan) for k in keys])
        values = values.astype(np.float32)
        return Climatology([k[0] for k in keys], [k[1] for k in keys], values)
