"""What a prediction starts from: the last `input_length` frames of each input clip (and the
actions of a model that reads them) as data=arrays reads them, or the observed times of a CF
series as data=xarray reads it, each checked against the checkpoint's model and units."""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from predrnn import compatibility
from predrnn.data import series_input
from predrnn.data.layout import Layout
from predrnn.data.normalization import check_finite_frames, value_range
from predrnn.data.readers.array import ArraySource
from predrnn.data.sources import open_clips
from predrnn.errors import BadValue, DataError


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
