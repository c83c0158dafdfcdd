"""No-coverage pixels (NaN in the data) never reach the loss or the scores as values
(docs/metrics.md, "Pixels without data"): masked metrics against pySTEPS and direct sums, the
same numbers as before without NaN, SSIM reported as not scored, the masked loss, a real
Lightning fit + test on a data module with NaN, and the extrapolation baseline on NaN frames."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchmetrics import Metric
from torchmetrics.functional.image import peak_signal_noise_ratio

from predrnn.data.base import SpatiotemporalDataModule
from predrnn.data.normalization import Normalization
from predrnn.data.windows import WindowBatchSampler
from predrnn.metrics.collection import MetricSet
from predrnn.metrics.events import EventScores
from predrnn.metrics.frame import MAE, MSE, PSNR
from predrnn.metrics.fss import FractionsSkillScore
from predrnn.models import PredRNN, reconstruction_loss
from predrnn.training import prediction_media, test_report
from predrnn.training.module import PredRNNModule, default_metrics

NAN = float("nan")
SIZE = 16  # frames 16 × 16, the coverage a disc of radius 6.5 px


def coverage(size: int = SIZE, radius: float = 6.5) -> Tensor:
    """A radar's coverage: True inside a disc at the frame's centre, (H, W)."""
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centre = (size - 1) / 2
    return (rows - centre) ** 2 + (cols - centre) ** 2 <= radius**2


def fields(shape: tuple[int, ...], seed: int) -> Tensor:
    """Random rain-like fields in dBZ on [0, 60), float32; a third of the pixels dry (0)."""
    g = torch.Generator().manual_seed(seed)
    values = 60 * torch.rand(shape, generator=g)
    return torch.where(torch.rand(shape, generator=g) < 0.33, 0.0, values)


def masked_pair(b: int = 3, k: int = 4, c: int = 2, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """(prediction, target, valid) (B, K, C, H, W): NaN in both outside the disc, as the
    module's scoring hands them to the metrics; one target frame of one sequence also loses a
    channel entirely (a channel without coverage)."""
    prediction, target = fields((b, k, c, SIZE, SIZE), seed), fields((b, k, c, SIZE, SIZE), seed + 1)
    valid = coverage().expand(b, k, c, SIZE, SIZE).clone()
    valid[1, 2, -1] = False
    return prediction.masked_fill(~valid, NAN), target.masked_fill(~valid, NAN), valid


@pytest.fixture(scope="module")
def pysteps():
    pytest.importorskip("pysteps", reason="pySTEPS is the optional extra predrnn[nowcast]")
    pytest.importorskip("cv2", reason="pySTEPS' Lucas-Kanade needs OpenCV (predrnn[nowcast])")
    with contextlib.redirect_stdout(io.StringIO()):  # pySTEPS names its config file on import
        from pysteps.verification import detcatscores, detcontscores, spatialscores
    return detcatscores, detcontscores, spatialscores


# --- (1) masked scores equal a direct computation over the valid pixels -------------------------


def test_masked_mse_mae_are_the_valid_pixels_mean_times_the_frame_size(pysteps):
    _, detcontscores, _ = pysteps
    prediction, target, valid = masked_pair()
    _, k, c, h, w = target.shape
    mse, mae = MSE(k), MAE(k)
    for metric in (mse, mae):
        metric.update(prediction[:2], target[:2])  # two batches: pooled over sequences
        metric.update(prediction[2:], target[2:])
    for frame in range(k):
        p, t = prediction[:, frame].double().numpy(), target[:, frame].double().numpy()
        # pySTEPS' MSE / MAE of the frame: means over its finite pixels of all sequences
        scores = detcontscores.det_cont_fct(p, t, scores=["MSE", "MAE"])
        direct = valid[:, frame].sum().item()
        squares = ((prediction - target)[:, frame][valid[:, frame]].double() ** 2).sum().item()
        assert mse.compute()["mse"][frame].item() == pytest.approx(squares / direct * c * h * w, rel=1e-6)
        assert mse.compute()["mse"][frame].item() == pytest.approx(scores["MSE"] * c * h * w, rel=1e-6)
        assert mae.compute()["mae"][frame].item() == pytest.approx(scores["MAE"] * c * h * w, rel=1e-6)


def test_masked_event_scores_equal_det_cat_fct_on_the_valid_pixels(pysteps):
    detcatscores, _, _ = pysteps
    prediction, target, valid = masked_pair()
    k = target.shape[1]
    metric = EventScores(k, thresholds=[20, 35])
    metric.update(prediction, target)
    result = metric.compute()
    for threshold in (20, 35):
        for frame in range(k):
            keep = valid[:, frame]
            p, t = prediction[:, frame][keep].double().numpy(), target[:, frame][keep].double().numpy()
            expected = detcatscores.det_cat_fct(p, t, threshold, scores=["CSI", "POD", "FAR", "HSS", "ETS"])
            # CSI, POD, FAR don't count correct negatives: the NaN fields themselves give them too
            on_nan = detcatscores.det_cat_fct(
                prediction[:, frame].double().numpy(), target[:, frame].double().numpy(), threshold, scores=["CSI"]
            )
            for score in ("csi", "pod", "far", "hss", "ets"):
                value = result[f"{score}_{threshold}"][0][frame].item()
                assert value == pytest.approx(expected[score.upper()], abs=1e-12), (score, threshold, frame)
            assert result[f"csi_{threshold}"][0][frame].item() == pytest.approx(on_nan["CSI"], abs=1e-12)


def test_masked_fss_equals_pysteps_fss_on_nan_fields(pysteps):
    _, _, spatialscores = pysteps
    prediction, target, _ = masked_pair()
    b, k, c = target.shape[:3]
    metric = FractionsSkillScore(k, thresholds=[20, 35], scales=[1, 3, 4])
    metric.update(prediction, target)
    result = metric.compute()
    for threshold in (20, 35):
        for scale in (1, 3, 4):
            overall = spatialscores.fss_init(threshold, scale)
            for frame in range(k):
                state = spatialscores.fss_init(threshold, scale)
                for i in range(b):
                    for ch in range(c):
                        p, t = prediction[i, frame, ch].double().numpy(), target[i, frame, ch].double().numpy()
                        spatialscores.fss_accum(state, p, t)
                        spatialscores.fss_accum(overall, p, t)
                got = result[f"fss_{threshold}_s{scale}"][0][frame].item()
                assert got == pytest.approx(spatialscores.fss_compute(state), abs=1e-12)
            got = result[f"fss_{threshold}_s{scale}"][1].item()
            assert got == pytest.approx(spatialscores.fss_compute(overall), abs=1e-12)


def test_masked_psnr_is_over_the_valid_pixels():
    prediction, target, valid = masked_pair()
    b, k, c = target.shape[:3]
    unit_p, unit_t = prediction / 60, target / 60
    metric = PSNR(k)
    metric.update(unit_p, unit_t)
    per_frame = metric.compute()["psnr"]
    for frame in range(k):
        values = []
        for i in range(b):
            channels = []
            for ch in range(c):
                keep = valid[i, frame, ch]
                if keep.any():
                    mse = ((unit_p - unit_t)[i, frame, ch][keep].double() ** 2).mean()
                    channels.append(-10 * math.log10(mse))
            if channels:
                values.append(sum(channels) / len(channels))
        assert per_frame[frame].item() == pytest.approx(sum(values) / len(values), rel=1e-5)


# --- (3) with no NaN, exactly the numbers of the unmasked definitions ---------------------------


def test_without_nan_the_masked_metrics_give_exactly_the_unmasked_numbers():
    prediction, target = fields((3, 4, 3, SIZE, SIZE), 5) / 60, fields((3, 4, 3, SIZE, SIZE), 6) / 60
    batches = [(prediction[:2], target[:2]), (prediction[2:], target[2:])]
    definitions = {  # the per-sequence values as the metrics computed them before masks
        "mse": lambda p, t: (p - t).square().sum(dim=(2, 3, 4)),
        "mae": lambda p, t: (p - t).abs().sum(dim=(2, 3, 4)),
        "psnr": lambda p, t: peak_signal_noise_ratio(
            p.flatten(0, 2)[:, None], t.flatten(0, 2)[:, None], data_range=1.0, reduction="none", dim=(1, 2, 3)
        ).view(p.shape[0], p.shape[1], -1).mean(2),
    }  # fmt: skip
    for cls in (MSE, MAE, PSNR):
        metric = cls(4)
        total = torch.zeros(4, dtype=torch.float64)
        for p, t in batches:
            metric.update(p, t)
            total += definitions[cls.name](p, t).sum(0).double()
        assert torch.equal(metric.compute()[cls.name], total / torch.tensor(3.0, dtype=torch.float64)), cls.name


def test_without_nan_the_module_scores_with_and_without_valid_identically():
    torch.manual_seed(0)
    module = tiny_module(baselines=("zeros", "copy_last"))
    frames = module.normalization.encode(fields((2, 6, 1, SIZE, SIZE), 7))
    predictions = module(frames)[:, module.input_length - 1 :]  # the K future frames score takes
    results = []
    for valid in (None, torch.ones_like(frames, dtype=torch.bool)):
        module.on_test_epoch_start()
        module.score(frames, predictions.detach(), "test", valid)
        module.on_test_epoch_end()
        results.append(module.test_results)
    assert results[0] == results[1]
    assert "not_scored" not in results[0] and results[0]["ssim"] is not None
    # the data module's masked batch without NaN: the frames exactly as encoded before
    raw = fields((2, 6, 1, SIZE, SIZE), 8)
    datamodule = CoverageDataModule(raw.numpy()[None].repeat(4, 0).reshape(8, 6, 1, SIZE, SIZE))
    batch = datamodule.on_after_batch_transfer(raw, 0)
    assert torch.equal(batch["frames"], datamodule.encode(raw)) and bool(batch["valid"].all())


# --- (2) the scores never read the values at no-coverage pixels ---------------------------------


def test_scores_do_not_depend_on_what_fills_the_no_coverage_pixels(pysteps):
    torch.manual_seed(0)
    module = tiny_module(baselines=("zeros", "copy_last", "extrapolation"), nowcast=True)
    raw = moving_rain(2, 6)  # NaN outside the disc
    datamodule = CoverageDataModule(raw.numpy())
    batch = datamodule.on_after_batch_transfer(raw, 0)
    valid = batch["valid"]
    predictions = module(batch["frames"]).detach()[:, module.input_length - 1 :]  # the K future frames
    results = []
    for fill in (0.0, 57.0):  # the NaNs of the raw data filled by two different values
        frames = datamodule.encode(torch.where(valid, raw, fill))
        garbage = predictions.masked_fill(~valid[:, module.input_length :], fill / 10)
        module.on_test_epoch_start()
        module.score(frames, garbage, "test", valid)
        module.on_test_epoch_end()
        results.append(module.test_results)
    assert results[0] == results[1]
    assert results[0]["mse"] is not None and results[0]["csi_20"] is not None
    assert results[0]["baselines"]["extrapolation"]["mse"] is not None


# --- (4) SSIM can't leave pixels out: not scored, with the reason -------------------------------


def test_ssim_on_masked_data_is_not_scored_with_a_reason():
    prediction, target, _ = masked_pair(c=1)
    configs = {**default_metrics(), "events": {"_target_": "predrnn.metrics.events.EventScores"}}
    notices: list[str] = []
    metrics = MetricSet(configs, 4, "test", notices)
    norm = Normalization("minmax", [0.0], [60.0], [0.0], [60.0], uint8=False)
    # a batch without NaN first: SSIM must not report a value of that batch alone
    metrics.update(fields(target.shape, 9), fields(target.shape, 10), norm)
    metrics.update(prediction, target, norm)
    results = metrics.compute()
    not_scored = results["not_scored"]
    for key in ("ssim", "ssim_official", "ssim_openstl"):
        assert key not in results and f"{key}_per_frame" not in results
        assert not_scored[key] == "frames have no-coverage pixels, which SSIM's window can't leave out"
    assert "psnr_official" in not_scored and ("lpips" in not_scored) == ("lpips" in metrics.metrics)
    for key in ("mse", "mae", "psnr", "csi_20", "pod_30"):
        assert key not in not_scored and results[key] is not None and math.isfinite(results[key])
    assert results["num_sequences"] == 2 * target.shape[0]
    json.dumps(results)  # metrics.json-ready


# --- (5) the loss ignores no-coverage pixels ----------------------------------------------------


@pytest.mark.parametrize("kind", ["l1_l2", "mse", "l1"])
def test_the_loss_ignores_no_coverage_pixels(kind):
    target = fields((2, 3, 1, SIZE, SIZE), 10) / 60
    valid = coverage().expand_as(target).clone()
    prediction = torch.rand_like(target, requires_grad=True)
    loss = reconstruction_loss(prediction, target.masked_fill(~valid, NAN), kind, valid)
    loss.backward()
    assert torch.isfinite(loss) and bool((prediction.grad[~valid] == 0).all())
    assert bool((prediction.grad[valid] != 0).any())
    other = reconstruction_loss(prediction.detach(), target.masked_fill(~valid, 123.0), kind, valid)
    expected = reconstruction_loss(prediction.detach()[valid], target[valid], kind)
    assert float(other) == float(loss) and float(loss) == pytest.approx(float(expected), rel=1e-6)
    # every pixel valid: the unmasked loss (the unmasked path is the same code as before)
    everywhere = reconstruction_loss(prediction.detach(), target, kind, torch.ones_like(valid))
    assert float(everywhere) == pytest.approx(float(reconstruction_loss(prediction.detach(), target, kind)), rel=1e-6)


def test_a_batch_without_coverage_adds_nothing_and_stays_finite():
    torch.manual_seed(0)
    module = tiny_module()
    frames = torch.zeros(2, 6, 1, SIZE, SIZE)
    valid = torch.zeros_like(frames, dtype=torch.bool)
    loss, predictions, _ = module.compute_loss(frames, None, True, {}, valid)
    loss.backward()
    assert float(loss) == 0.0 and predictions.shape == (2, 3, 1, SIZE, SIZE)  # the K = T - J future frames
    assert all(
        p.grad is None or bool(torch.isfinite(p.grad).all() and (p.grad == 0).all()) for p in module.parameters()
    )


# --- (6) a real Trainer: fit and test on a data module whose frames hold NaN --------------------


class Windows(Dataset):
    """Fixed windows (N, T, C, H, W) of float32 frames; a batch is one tensor (`__getitems__`)."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Tensor:
        return torch.from_numpy(self.frames[index])

    def __getitems__(self, indices: list[int]) -> Tensor:
        return torch.from_numpy(self.frames[indices])


class CoverageDataModule(SpatiotemporalDataModule):
    """Windows of float frames in dBZ with NaN where the radar has no coverage: the first half
    trains, the rest validates and tests; min-max normalisation over the valid pixels."""

    no_data = "mask"
    uint8 = False

    def __init__(
        self, frames: np.ndarray, input_length: int = 3, batch_size: int = 2, num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(batch_size, None)
        self.save_hyperparameters(ignore=["frames"])
        self.frames = np.ascontiguousarray(frames, dtype=np.float32)
        n, t, c, h, w = self.frames.shape
        self.channels, self.image_size, self.input_length, self.total_length = c, (h, w), input_length, t
        train = self.frames[: n // 2]
        low, high = np.nanmin(train, axis=(0, 1, 3, 4)), np.nanmax(train, axis=(0, 1, 3, 4))
        self._normalization = Normalization("minmax", low, high - low, low, high, uint8=False)

    @property
    def normalization(self) -> Normalization:
        return self._normalization

    def train_dataset(self) -> Windows:
        return Windows(self.frames[: len(self.frames) // 2])

    def train_batch_sampler(self, dataset, start_fn):
        return WindowBatchSampler(len(dataset), self.batch_size, 0, self.rank, self.world_size, start_fn)

    def eval_dataset(self, split: str) -> Windows:
        return Windows(self.frames[len(self.frames) // 2 :])

    def encode(self, frames: Tensor) -> Tensor:
        return self._normalization.to(frames.device).encode(frames)


def moving_rain(n: int, length: int, seed: int = 0) -> Tensor:
    """(n, length, 1, H, W) dBZ: a Gaussian cell (peak 50) moving 1 px per frame to the right,
    plus light noise, NaN outside the disc of coverage."""
    g = torch.Generator().manual_seed(seed)
    rows, cols = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    frames = torch.empty(n, length, 1, SIZE, SIZE)
    for i in range(n):
        y, x = 5.0 + 4 * torch.rand((), generator=g), 3.0 + 2 * torch.rand((), generator=g)
        for t in range(length):
            cell = 50 * torch.exp(-((cols - x - t) ** 2 + (rows - y) ** 2) / (2 * 2.0**2))
            frames[i, t, 0] = cell + 2 * torch.rand(SIZE, SIZE, generator=g)
    return frames.masked_fill(~coverage(), NAN)


def tiny_module(baselines=("zeros", "copy_last"), nowcast: bool = False, metrics=None) -> PredRNNModule:
    network = PredRNN(hidden_channels=[4], image_size=SIZE, patch_size=4, kernel_size=3, input_length=3)
    configs = metrics if metrics is not None else default_metrics()
    if nowcast:
        configs = {**configs, "events": {"_target_": "predrnn.metrics.events.EventScores"},
                   "fss": {"_target_": "predrnn.metrics.fss.FractionsSkillScore", "scales": [1, 4]}}  # fmt: skip
    norm = Normalization("minmax", [0.0], [60.0], [0.0], [60.0], uint8=False).as_dict()
    return PredRNNModule(network, metrics=configs, baselines=baselines, future_frames=3, normalization=norm)


class LossLog(pl.Callback):
    """The training losses of a run; each batch reaches the module masked: finite frames and a
    bool `valid`."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        assert isinstance(batch, dict) and batch["valid"].dtype == torch.bool and not batch["frames"].isnan().any()
        self.losses.append(float(outputs["loss"] if isinstance(outputs, dict) else outputs))


def test_fit_and_test_on_a_data_module_with_nan(tmp_path):
    torch.manual_seed(0)
    frames = moving_rain(8, 6)
    frames[5, 4] = NAN  # a test window with a frame of no coverage at all
    datamodule = CoverageDataModule(frames.numpy())
    module = tiny_module(
        baselines=("zeros", "copy_last"),
        metrics={**default_metrics(), "events": {"_target_": "predrnn.metrics.events.EventScores"}},
    )
    module = PredRNNModule(
        module.network, metrics=module.metric_configs, baselines=module.baselines, future_frames=3,
        normalization=datamodule.normalization.as_dict(), data_description={"variables": ["reflectivity"]},
    )  # fmt: skip
    assert module.hparams["data_description"] == {"variables": ["reflectivity"]}
    log = LossLog()

    trainer = pl.Trainer(
        max_steps=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=1, num_sanity_val_steps=0,
        default_root_dir=tmp_path,
        callbacks=[log, test_report.TestReport(str(tmp_path)), prediction_media.PredictionMedia(1, str(tmp_path))],
    )  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    trainer.test(module, datamodule=datamodule)
    assert len(log.losses) == 2 and all(math.isfinite(v) for v in log.losses)
    results = json.loads((tmp_path / "metrics.json").read_text())
    assert results["not_scored"]["ssim"] == "frames have no-coverage pixels, which SSIM's window can't leave out"
    assert "ssim" not in results and math.isfinite(results["mse"]) and math.isfinite(results["csi_20"])
    assert all(v is not None for v in results["mse_per_frame"]) and results["num_sequences"] == 4
    for name in ("zeros", "copy_last"):
        assert "ssim" in results["baselines"][name]["not_scored"] and math.isfinite(results["baselines"][name]["mse"])
    assert sorted(p.name for p in (tmp_path / "media").iterdir())  # strips drawn from NaN frames
    assert math.isfinite(module.val_results["mse"])


# --- (7) the extrapolation baseline on NaN-masked frames ----------------------------------------


class NaNPattern(Metric):
    """Test-only: counts, per future frame, the pixels where the forecast is NaN but the truth
    is not (or the other way round), and the NaN pixels of the truth."""

    scale = "data"
    masks_nan = True
    stages = ("test",)
    full_state_update = False

    def __init__(self, num_frames: int) -> None:
        super().__init__()
        self.add_state("mismatch", default=torch.zeros(num_frames, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("holes", default=torch.zeros(num_frames, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: Tensor, target: Tensor) -> None:
        self.mismatch += (predictions.isnan() != target.isnan()).sum(dim=(0, 2, 3, 4)).double()
        self.holes += target.isnan().sum(dim=(0, 2, 3, 4)).double()

    def compute(self) -> dict[str, Tensor]:
        return {"nan_mismatch": self.mismatch, "truth_holes": self.holes}


def test_extrapolation_runs_on_nan_frames_and_is_nan_only_where_the_truth_has_no_coverage(pysteps):
    from predrnn.extrapolation import extrapolate

    raw = moving_rain(2, 6, seed=0)
    raw[1, 5, 0, :, :3] = NAN  # the truth loses a strip it had before: its coverage changes over time
    raw[1, 0] = NAN  # an observed frame without any coverage
    forecast = extrapolate(raw[:, :3], 3)
    assert forecast.isnan().any()  # pySTEPS carries NaN where the source had no coverage
    blob = forecast[0, 0, 0].nan_to_num(0.0).double()  # the cell moves right (1 px a frame)
    cols = torch.arange(SIZE, dtype=torch.float64)
    centre = float((blob.sum(0) * cols).sum() / blob.sum())
    last = raw[0, 2, 0].nan_to_num(0.0).double()
    assert centre > float((last.sum(0) * cols).sum() / last.sum()) + 0.5  # 0 without motion

    datamodule = CoverageDataModule(raw.numpy())
    metrics = {
        "nan_pattern": {"_target_": "test_no_coverage.NaNPattern"},
        "mse": {"_target_": "predrnn.metrics.frame.MSE"},
    }
    module = tiny_module(baselines=("extrapolation",), metrics=metrics)
    batch = datamodule.on_after_batch_transfer(raw, 0)
    module.on_test_epoch_start()
    module.test_step(batch, 0)
    module.on_test_epoch_end()
    for results in (module.test_results, module.test_results["baselines"]["extrapolation"]):
        assert results["nan_mismatch_per_frame"] == [0.0, 0.0, 0.0]
        assert all(h > 0 for h in results["truth_holes_per_frame"])
        assert math.isfinite(results["mse"])


# --- the whole-step CUDA graph carries the coverage mask ----------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_cuda_graph_step_carries_the_mask():
    """Three training steps on NaN data: the graphed step's losses and weights are the eager ones'."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    frames = moving_rain(12, 6)
    frames[:, :, :, :8] = frames[:, :, :, :8].masked_fill(torch.rand(12, 6, 1, 8, SIZE) < 0.3, NAN)  # holes vary
    runs = []
    for graphed in (False, True):
        torch.manual_seed(0)
        datamodule = CoverageDataModule(frames.numpy())
        network = PredRNN(hidden_channels=[4], image_size=SIZE, patch_size=4, kernel_size=3, input_length=3)
        module = PredRNNModule(
            network, metrics={"mse": {"_target_": "predrnn.metrics.frame.MSE"}}, baselines=(), future_frames=3,
            normalization=datamodule.normalization.as_dict(), cuda_graph=graphed,
        )  # fmt: skip
        log = LossLog()
        trainer = pl.Trainer(
            max_steps=3, accelerator="gpu", devices=1, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
            callbacks=[log],
        )  # fmt: skip
        trainer.fit(module, datamodule=datamodule)
        assert module.fast.graphed(module.device) == graphed
        runs.append((log.losses, [p.detach().cpu().clone() for p in module.parameters()]))
    (eager_losses, eager_params), (graph_losses, graph_params) = runs
    assert len(eager_losses) == 3 and all(math.isfinite(v) for v in graph_losses)
    assert graph_losses == pytest.approx(eager_losses, rel=1e-5)
    for g, e in zip(graph_params, eager_params, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)
