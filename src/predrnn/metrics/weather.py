"""Latitude-weighted scores of gridded weather forecasts, as WeatherBench 2 defines them
(docs/metrics.md, "Weather scores").

On a latitude / longitude grid a row of pixels near a pole covers less of the Earth than one at
the equator. WeatherBench 2 (`weatherbench2/metrics.py`, `get_lat_weights` and
`_spatial_average`) weighs each row by its cell's area: the integral of cos φ between the cell's
bounds (half-way between neighbouring latitudes, ±90° at the ends), normalised to mean 1 over the
grid's latitudes. On WeatherBench's equiangular grids, whose outer rows lie half a spacing from the
poles, that is exactly cos φ normalised to mean 1.

Per forecast (one window) and lead time, the spatial means are weighted means over the pixels
and then over the channels (each channel is one variable's field); the reported values are
- `wrmse`: the square root of the mean over forecasts of the weighted MSE (WeatherBench 2's
  `MSE`, whose square root its scorecards show);
- `wmae`: the mean over forecasts of the weighted MAE (its `MAE`);
- `openstl_mse`, `openstl_rmse`, `openstl_mae`: the unweighted means over every pixel and channel
  that OpenSTL reports for WeatherBench (`openstl/core/metrics.py:17-38` with `spatial_norm`, on
  the de-normalised data, c74deb5), so its published numbers compare with these;
- `acc` (`AnomalyCorrelation`): its anomaly correlation coefficient (`ACC`) against the training
  split's climatology per day of year and hour (`data/climatology.py`), per forecast and then
  averaged over forecasts, as its `Metric.compute` averages over initialisation times.

The latitudes (and the ACC's climatology) come from the data: a metric declares `from_data`
(`("latitudes",)`, `("latitudes", "climatology")`) and
`build.evaluation_settings` fills the argument from the data module's `metric_inputs()`
(`data=xarray`: the grid's latitude coordinate). States are sums (float64) reduced with
`dist_reduce_fx="sum"`; the scores are on the data's own scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

from predrnn import checks
from predrnn.errors import BadValue
from predrnn.metrics.api import check_future_frames


def latitude_weights(latitudes: Sequence[float]) -> np.ndarray:
    """WeatherBench 2's cell-area weights of the rows at `latitudes` (degrees, in the grid's
    order, increasing or decreasing), normalised to mean 1."""
    lat = np.asarray(latitudes, dtype=np.float64)
    order = np.argsort(lat)
    phi = np.deg2rad(lat[order])
    bounds = np.concatenate([[-np.pi / 2], (phi[:-1] + phi[1:]) / 2, [np.pi / 2]])
    area = np.sin(bounds[1:]) - np.sin(bounds[:-1])
    weights = np.empty_like(area)
    weights[order] = area / area.mean()
    return weights


def _latitudes(latitudes: Sequence[float] | None) -> np.ndarray:
    """The grid's latitudes checked: distinct degrees in [-90, 90], one per row."""
    if latitudes is None or len(latitudes) == 0:
        raise BadValue("latitudes", latitudes, "must list the grid's latitudes (filled from data=xarray's grid)")
    lat = np.asarray(latitudes, dtype=np.float64)
    if lat.ndim != 1 or not np.isfinite(lat).all() or np.abs(lat).max() > 90 or len(np.unique(lat)) != len(lat):
        raise BadValue("latitudes", list(latitudes), "must be distinct degrees in [-90, 90], one per row")
    return lat


class WeatherScores(Metric):
    """`wrmse` and `wmae` per lead time (module docstring); `latitudes` (degrees, one per frame
    row, in the data's order) come from the data."""

    scale = "data"
    from_data = ("latitudes",)
    full_state_update = False

    def __init__(self, num_frames: int, latitudes: Sequence[float] | None = None) -> None:
        super().__init__()
        self.num_frames = checks.integer("num_frames", num_frames, 12, minimum=1)
        self.register_buffer("weights", torch.from_numpy(latitude_weights(_latitudes(latitudes))), persistent=False)
        for name in ("squared", "absolute", "plain_squared", "plain_absolute"):
            self.add_state(name, default=torch.zeros(num_frames, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def _spatial_mean(self, values: Tensor) -> Tensor:
        """(B, K, C, H, W) -> (B, K): the weighted mean over rows, the mean over columns and
        channels."""
        w = self.weights.to(values.device)
        return (values.mean(dim=-1) * w).mean(dim=-1).mean(dim=-1)

    def update(self, predictions: Tensor, target: Tensor) -> None:
        """predictions, target: (B, K, C, H, W) future frames in data units."""
        check_future_frames(predictions, target, self.num_frames)
        if predictions.shape[-2] != len(self.weights):
            raise ValueError(f"frames have {predictions.shape[-2]} rows, the grid {len(self.weights)} latitudes")
        error = predictions.detach().double() - target.detach().double()
        self.squared += self._spatial_mean(error**2).sum(0)
        self.absolute += self._spatial_mean(error.abs()).sum(0)
        self.plain_squared += (error**2).mean(dim=(2, 3, 4)).sum(0)
        self.plain_absolute += error.abs().mean(dim=(2, 3, 4)).sum(0)
        self.count += predictions.shape[0]

    def compute(self) -> dict[str, tuple[Tensor, Tensor]]:
        n = self.count.clamp(min=1)
        mse, mae = self.squared / n, self.absolute / n
        plain = self.plain_squared / n
        return {
            "wrmse": (mse.sqrt(), mse.mean().sqrt()), "wmae": mae,
            "openstl_mse": plain, "openstl_rmse": (plain.sqrt(), plain.mean().sqrt()),
            "openstl_mae": self.plain_absolute / n,
        }  # fmt: skip


class AnomalyCorrelation(Metric):
    """`acc` per lead time: WeatherBench 2's anomaly correlation coefficient (`metrics.py`, `ACC`)
    of the forecast against the truth, both as anomalies from `climatology` (the training split's
    mean per day of year and hour, `data/climatology.py`) at each frame's valid time.

    Per forecast (window), lead time and channel: the latitude-weighted spatial mean of the
    product of the anomalies divided by the square root of the product of the weighted means of
    their squares; then, as WeatherBench 2's `Metric.compute` averages `compute_chunk` over
    initialisation times, the mean over forecasts, and as `wrmse`, the mean over channels. The
    whole-forecast `acc` is the mean over lead times. `update` takes each frame's valid time
    (`takes_times`, docs/metrics.md): `data=xarray` ships them with the evaluation windows."""

    scale = "data"
    from_data = ("latitudes", "climatology")
    takes_times = True
    full_state_update = False

    def __init__(self, num_frames: int, latitudes: Sequence[float] | None = None, climatology=None) -> None:
        super().__init__()
        from predrnn.data.climatology import Climatology

        self.num_frames = checks.integer("num_frames", num_frames, 12, minimum=1)
        self.register_buffer("weights", torch.from_numpy(latitude_weights(_latitudes(latitudes))), persistent=False)
        if not isinstance(climatology, Climatology):
            raise BadValue("climatology", type(climatology).__name__,
                           "must be the training split's climatology (filled from data=xarray)")  # fmt: skip
        if climatology.values.shape[-2] != len(self.weights):
            raise BadValue("climatology", repr(climatology), f"must have {len(self.weights)} rows, one per latitude")
        self.climatology = climatology
        self.add_state("total", default=torch.zeros(num_frames, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def _spatial_mean(self, values: Tensor) -> Tensor:
        """(B, K, C, H, W) -> (B, K, C): the weighted mean over rows of the mean over columns."""
        return (values.mean(dim=-1) * self.weights.to(values.device)).mean(dim=-1)

    def update(self, predictions: Tensor, target: Tensor, times: Tensor) -> None:
        """predictions, target: (B, K, C, H, W) future frames in data units; times: (B, K) their
        valid times (int64 seconds since 1970, UTC)."""
        check_future_frames(predictions, target, self.num_frames)
        if predictions.shape[-2] != len(self.weights):
            raise ValueError(f"frames have {predictions.shape[-2]} rows, the grid {len(self.weights)} latitudes")
        if tuple(times.shape) != tuple(predictions.shape[:2]):
            raise ValueError(f"expected (B, K) = {tuple(predictions.shape[:2])} valid times, got {tuple(times.shape)}")
        normal = self.climatology.lookup(times).to(predictions.device, torch.float64)
        if normal.shape != predictions.shape:
            raise ValueError(f"the climatology's frames {tuple(normal.shape[2:])} differ from the data's "
                             f"{tuple(predictions.shape[2:])}")  # fmt: skip
        forecast = predictions.detach().double() - normal
        truth = target.detach().double() - normal
        mean = self._spatial_mean
        acc = mean(forecast * truth) / (mean(forecast**2) * mean(truth**2)).sqrt()
        self.total += acc.mean(dim=-1).sum(0)
        self.count += predictions.shape[0]

    def compute(self) -> dict[str, Tensor]:
        return {"acc": self.total / self.count}  # NaN (null) when nothing was scored
