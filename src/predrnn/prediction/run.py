"""The prediction: open the checkpoint, read the observations, run the model free for K frames
in batches (the rollout `predrnn-export` exports) and write the predictions in the input's
layout, units and dtype, or as a CF forecast (`predrnn.prediction`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from predrnn import checks
from predrnn.build import described_network
from predrnn.checkpoints import open_checkpoint, resolve_checkpoint, single_run_checkpoints
from predrnn.data import series_input
from predrnn.data.forecast_writer import forecast_dataset
from predrnn.errors import BadValue, OutputError
from predrnn.prediction.observed import observe
from predrnn.prediction.outputs import OUTPUTS, check_outputs, described, not_written, write_outputs
from predrnn.threads import share_cpus

PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed")


def _without_series_keys(cfg: DictConfig) -> DictConfig:
    """`cfg` without the data.* keys of a series that data=arrays has not (predict.yaml adds them,
    null, so that `data.storage_options=…` can be given): for `described_network`."""
    from omegaconf import OmegaConf

    if str(cfg.data.get("_target_", "")).endswith("XarrayDataModule"):
        return cfg
    copy = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    for key in series_input.SERIES_KEYS:
        copy.data.pop(key, None)
    return copy


def _input_actions(cfg: DictConfig) -> dict[str, int]:
    """What the data module that describes a checkpoint over the input needs to know of its
    actions: they run on past the observed frames (J + K − 1 per clip, checked in `observe`)."""
    return {"future_actions": 0} if cfg.data.get("actions_key") is not None else {}


def predict(cfg: DictConfig, overrides: Sequence[str] = ()) -> Path:
    """Predict the frames that follow `cfg.input` with the checkpoint `cfg.ckpt_path` (described
    by `cfg` and the command line's `overrides`) and write them to `cfg.output`; the path written."""
    import torch

    from predrnn.export import Forecaster
    from predrnn.training import media
    from predrnn.training.fastpath import precision_dtype
    from predrnn.training.module import PredRNNModule

    share_cpus(1)
    batch_size = checks.integer("batch_size", cfg.batch_size, 64, minimum=1)
    if cfg.num_predictions is not None:
        checks.integer("num_predictions", cfg.num_predictions, 10, minimum=1)
    checks.boolean("overwrite", cfg.overwrite)
    clip = checks.boolean("clip", cfg.get("clip", False))
    # the precisions a prediction runs in (an autocast dtype, or none): any other would be ignored
    checks.choice("precision", str(cfg.precision), PRECISIONS, "bf16-mixed")
    out, gif = check_outputs(cfg)
    device = _device(cfg.accelerator)
    ckpt = resolve_checkpoint(cfg.ckpt_path, single_run_checkpoints(cfg.paths.log_dir), "under logs/train")
    opened = open_checkpoint(
        ckpt, cfg, module_class=PredRNNModule, compile=cfg.module.compile, channels_last=cfg.module.channels_last,
        describe=lambda: described_network(_without_series_keys(cfg), **_input_actions(cfg)),
        overrides=tuple(overrides),
    )  # fmt: skip
    print(f"predrnn-predict: checkpoint {opened.describe()}")
    module = opened.module
    net, norm = module.network, module.normalization
    k = opened.future_frames(cfg.num_predictions, cfg.data, accelerator=cfg.accelerator)  # bounded by memory
    observed = observe(cfg, opened, k)
    series = observed.series
    if out.suffix.lower() != ".npy" and series is None:
        raise OutputError(
            f"output={cfg.output} is {OUTPUTS[out.suffix.lower()]}, which needs the times and grid of a CF input "
            f"(netCDF / Zarr read as data=xarray reads it); input={cfg.input} has none: give output=….npy"
        )
    actions, layout = observed.actions, observed.layout
    frames, coverage = observed.frames, None
    if observed.no_data and frames.dtype != np.uint8:  # NaN reaches the network as the lowest training value
        coverage = ~np.isnan(frames[:, -1])  # (N, C, H, W): where the last observed frame has data
        frames = series_input.filled(frames, norm.low.flatten().tolist())
    n = len(frames)
    module = module.to(device).eval()
    module.fast.prepare(net, device, key="module.compile")  # channels-last and compiled cells, as in training
    dtype = precision_dtype(cfg.precision)
    rollout = Forecaster(net, k, norm)  # encode, run free for k frames, decode: what predrnn-export exports
    outputs = []
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
    with not_written(out, gif), torch.inference_mode(), autocast:
        for start in range(0, n, batch_size):
            x = torch.from_numpy(frames[start : start + batch_size]).to(device)
            a = None if actions is None else torch.from_numpy(actions[start : start + batch_size]).to(device)
            outputs.append(rollout(module.fast.layout(x), a).float().cpu())
    units = torch.cat(outputs)  # (N, K, C, H, W) in the data's units (uint8 data: [0, 1])
    if clip:  # into the training split's range per channel (the checkpoint's normalisation holds it)
        units = torch.clamp(units, norm.low.to(units.device), norm.high.to(units.device))
    result = media.to_uint8_image(units) if frames.dtype == np.uint8 else units.numpy().astype(np.float32)
    if coverage is not None:  # no forecast where the last observed frame has no data
        result = np.where(coverage[:, None], result, np.float32(np.nan)).astype(np.float32)
    norm = norm.cpu()
    observed_metric = norm.metric(norm.units(torch.from_numpy(frames[0])))  # the GIF: no-data pixels at the bottom
    predicted_metric = norm.metric(units[0])
    kind = out.suffix.lower()
    dataset = None
    if kind != ".npy":
        dataset = forecast_dataset(
            result, series.grid, [series.issue_time], series.lead_times(k),
            history=f"predrnn-predict ckpt_path={ckpt} input={series_input.shown_input(cfg.input)}",
        )  # fmt: skip
    else:
        result = layout.from_ntchw(result)
    write_outputs(out, gif, result, dataset, observed_metric, predicted_metric, cfg.overwrite)
    what = described(result, layout, series, k, kind)
    print(f"predicted {n} x {k} frames -> {out.resolve()} ({what}), GIF -> {gif.resolve()}")
    return out


def _device(accelerator: str):
    import torch

    checks.choice("accelerator", accelerator, ("auto", "cpu", "gpu", "cuda"), "auto")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise BadValue("accelerator", accelerator, "but no GPU is visible here", "cpu")
    return torch.device("cuda" if accelerator != "cpu" and torch.cuda.is_available() else "cpu")
