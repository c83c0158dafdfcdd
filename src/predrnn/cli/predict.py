"""`predrnn-predict ckpt_path=… input=… output=…`: predict the next frames of given clips.

Input: anything `data=arrays` reads (docs/data.md): a .npy / .npz / HDF5 / Zarr array named by
`data.key` and laid out as `data.layout` (default: (T, H, W) or (N, T, H, W)), a video, a folder
of videos or frame folders, or BAIR TFRecords. The last `input_length` frames of each clip are
the observations. A model that reads actions takes them from `data.actions_key` (an (N, T', A)
array beside the frames): for a clip of L frames and K = num_predictions, T' ≥ L + K − 1, the
actions of its frames and of the predicted ones but the last. Output: the predicted frames as
one .npy in the input's layout with T replaced by the K predicted frames (N, K, H, W, C for
videos, frame folders and TFRecords), in the input's units and dtype, and a GIF of the first
clip with its prediction. `clip=true` clips the predictions to the training split's range per
channel (stored in the checkpoint); by default they are the model's values as they are, which
can go outside it (uint8 outputs are always 0-255). Both outputs are checked before any work
(never an input, never an existing file unless overwrite=true) and written atomically.

A CF series (a netCDF file, a Zarr store, a folder or glob of them, a URL with
`data.storage_options`; and any input of a model trained through data=xarray) is read as
data=xarray reads it, with the checkpoint's variables, dims, select and coarsen (a `data.*` value
given wins): the last `input_length` times, consecutive at the model's time step, are observed;
no-data pixels (NaN) reach the network as the training data's lowest value, as in training, and
the predictions are NaN where the last observed frame has no data. `output=forecast.nc` (netCDF-4)
or `output=forecast.zarr` (a Zarr store) is then a CF forecast on the input's grid, issued at the
last observed time with lead times of 1 … K steps (`data/forecast_writer.py`); a `.npy` output
holds (1, K, H, W, C).
"""

from __future__ import annotations

import fnmatch
import os
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from predrnn import checks, compatibility
from predrnn.build import described_network
from predrnn.checkpoints import open_checkpoint, resolve_checkpoint, single_run_checkpoints
from predrnn.cli.entry import entry_point, report_errors
from predrnn.cli.hydra_state import current_launch
from predrnn.data import series_input
from predrnn.data.array_source import ArraySource
from predrnn.data.forecast_writer import ZARR_MARKERS, forecast_dataset
from predrnn.data.forecast_writer import save as save_forecast
from predrnn.data.layout import Layout
from predrnn.data.normalization import check_finite_frames, value_range
from predrnn.data.sources import open_clips
from predrnn.errors import BadValue, DataError, OutputError
from predrnn.files import atomic_outputs, check_output
from predrnn.threads import share_cpus
from predrnn.training.signals import Stopped

PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed")
OUTPUTS = {".npy": "a NumPy array", ".nc": "a CF netCDF-4 forecast", ".zarr": "a CF forecast as a Zarr store"}


@dataclass
class Observed:
    """What the rollout starts from: `frames` (N, J, C, H, W), uint8 or float32 in data units
    (NaN where a series has no data), the actions (N, J + K − 1, A) of a model that reads them,
    the layout of a .npy output and, for a CF series, its times and grid."""

    frames: np.ndarray
    actions: np.ndarray | None
    layout: Layout
    series: series_input.ObservedSeries | None = None
    no_data: bool = False  # NaN marks no data (a series, or a model trained with data.no_data=mask)


def read_observed(
    cfg: DictConfig, network, normalization, num_predictions: int, no_data_ok: bool = False
) -> tuple[np.ndarray, np.ndarray | None, Layout]:
    """(N, J, C, H, W) of the last J frames of each input clip, for a network that reads actions
    (N, J + K − 1, A) of those frames and of the K predicted ones but the last (else None), and
    the layout to write the predictions in. The frames' values must suit the checkpoint's
    `normalization`: far outside its range is an error, beyond it a warning line. NaN (no data)
    is refused unless `no_data_ok` (a model trained with data.no_data=mask)."""
    grey = bool(cfg.data.get("grey")) or network.in_channels == 1  # colour videos for a grey model
    reads_actions = "actions" in getattr(network, "conditioning", ())
    actions_key = cfg.data.get("actions_key")
    if reads_actions and actions_key is None:
        raise BadValue(
            "actions_key", None, f"must name the actions of input={cfg.input}: the model reads "
            f"{getattr(network, 'action_channels', 'its')} action values per frame", "actions",
        ).in_group("data")  # fmt: skip
    actions_key = actions_key if reads_actions else None  # a model without actions ignores them
    clips = open_clips(
        cfg.input, cfg.data.get("key"), cfg.data.get("layout"), grey, path_key="input", actions_key=actions_key,
        future_actions=num_predictions - 1,
    )  # fmt: skip
    source = clips[0].source
    layout = (
        source.layout if isinstance(source, ArraySource) else Layout("NTHWC" if source.frame_shape[0] > 1 else "NTHW")
    )
    where = f"input={cfg.input}"
    compatibility.check_input_frames(
        where, source.frame_shape, network, "give frames of that shape (data.layout names the axes)"
    )
    if reads_actions:
        compatibility.check_input_actions(where, actions_key, clips[0].action_channels, network)
    j = network.input_length
    short = next((clip for clip in clips if clip.length < j), None)
    if short is not None:
        raise DataError(
            f"input={cfg.input} has {short.length} frames, the model observes input_length={j}: give at least {j}"
        )
    blocks, actions = [], []
    for clip in clips:
        block = clip.read(clip.length - j, clip.length)
        check_finite_frames(np.nan_to_num(block, nan=0.0) if no_data_ok else block, clip, clip.length - j)
        blocks.append(block)
        if reads_actions:  # the observed frames' actions, then the predicted frames' (the last never read)
            actions.append(clip.read_actions(clip.length - j, clip.length + num_predictions - 1))
    frames = np.stack(blocks)
    compatibility.check_input_units(where, frames, normalization)  # uint8 reads as x / 255
    if frames.dtype != np.uint8:
        frames = frames.astype(np.float32)
        with warnings.catch_warnings():  # a channel without any data has no range: nothing to compare
            warnings.simplefilter("ignore", RuntimeWarning)
            seen = series_input.valid_range(frames) if no_data_ok else value_range(frames)
        for line in normalization.check_range(*seen, f"input={cfg.input}"):
            print(f"predrnn-predict: {line}", file=sys.stderr)
    return frames, (np.stack(actions) if reads_actions else None), layout


def read_observed_series(cfg: DictConfig, opened, network, normalization) -> Observed:
    """The observations of a CF series (`data/series_input.py`), read with the checkpoint's
    data settings; the frames' shape, variables, units and values checked against the model."""
    saved = opened.state.get("datamodule_hyper_parameters") or {}
    description = opened.module.hparams.get("data_description")
    settings = series_input.series_settings(cfg.data, saved, description)
    trained = series_input.trained_variables(saved, description)
    ckpt = f"ckpt_path={opened.path}"
    where = f"input={series_input.shown_input(cfg.input)}"
    if settings["variables"] is not None and trained is not None:  # a data.variables given on the command line
        given = [settings["variables"]] if isinstance(settings["variables"], str) else list(settings["variables"])
        series_input.check_same_variables(trained, given, ckpt, f"data.variables={given}")
    step = series_input.trained_step(saved, description)
    observed = series_input.read_observed_series(
        cfg.input, settings, network.input_length, step, trained=None if trained is None else (ckpt, trained)
    )
    series_input.check_same_variables(trained, observed.variables, ckpt, where)
    series_input.check_same_units(description, observed.grid, ckpt, where)
    compatibility.check_input_frames(where, observed.frames.shape[2:], network,
                                     "give frames of that shape (data.select and data.coarsen cut a series)")  # fmt: skip
    frames = observed.frames
    compatibility.check_input_units(where, frames, normalization, series=True)
    with warnings.catch_warnings():  # a channel without any data has no range: nothing to compare
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = series_input.valid_range(frames)
    for line in normalization.check_range(low, high, where):
        print(f"predrnn-predict: {line}", file=sys.stderr)
    return Observed(frames, None, Layout("NTHWC"), observed, no_data=True)


def observe(cfg: DictConfig, opened, num_predictions: int) -> Observed:
    """The observations of `cfg.input`: a CF series (`series_input.reads_series`) or what
    data=arrays reads."""
    module = opened.module
    saved = opened.state.get("datamodule_hyper_parameters") or {}
    description = module.hparams.get("data_description")
    if series_input.reads_series(cfg.data, saved, description, str(cfg.input)):
        return read_observed_series(cfg, opened, module.network, module.normalization)
    masked = series_input.trained_with_no_data(saved, description)
    return Observed(*read_observed(cfg, module.network, module.normalization, num_predictions, masked), no_data=masked)


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


def predict(cfg: DictConfig) -> Path:
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
        overrides=current_launch().task,
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
    with _not_written(out, gif), torch.inference_mode(), autocast:
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
    try:  # both, or neither
        with atomic_outputs([out, gif], cfg.overwrite, folders=[out] if kind == ".zarr" else []) as (tmp, gif_tmp):
            if dataset is None:
                np.save(tmp, result)
            else:
                save_forecast(dataset, tmp)
            media.write_prediction_gif(gif_tmp, observed_metric, predicted_metric)
    except Stopped as stop:  # Ctrl-C / SIGTERM while writing: neither output changed
        stop.not_written = f"{out} and {gif} were not written"
        raise
    what = _described(result, layout, series, k, kind)
    print(f"predicted {n} x {k} frames -> {out.resolve()} ({what}), GIF -> {gif.resolve()}")
    return out


def _described(result: np.ndarray, layout: Layout, series, k: int, kind: str) -> str:
    """What was written: the array's shape and layout, and a series' issue time and lead times."""
    if series is None:
        return f"{result.dtype} {tuple(result.shape)}, layout {layout} with T = predicted frames"
    from predrnn.data.timeline import iso, step_text

    when = f"issued {iso(series.issue_time)}, lead times {step_text(series.time_step)} to {step_text(series.time_step * k)}"
    if kind == ".npy":
        return f"{result.dtype} {tuple(result.shape)}, layout {layout} with T = predicted frames; {when}"
    return f"a CF forecast of {', '.join(series.variables)}, {when}"


@contextmanager
def _not_written(*outputs: Path):
    """A Ctrl-C / SIGTERM in the block says which outputs were not written."""
    try:
        yield
    except Stopped as stop:
        stop.not_written = f"{' and '.join(str(o) for o in outputs)} were not written"
        raise


def _device(accelerator: str):
    import torch

    checks.choice("accelerator", accelerator, ("auto", "cpu", "gpu", "cuda"), "auto")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise BadValue("accelerator", accelerator, "but no GPU is visible here", "cpu")
    return torch.device("cuda" if accelerator != "cpu" and torch.cuda.is_available() else "cpu")


task = report_errors("predrnn-predict")(predict)  # the Hydra task, for in-process use
main = entry_point("predict", "predrnn-predict", predict)


if __name__ == "__main__":
    main()
