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
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from predrnn import checks
from predrnn.build import described_network
from predrnn.checkpoints import open_checkpoint, resolve_checkpoint, single_run_checkpoints
from predrnn.cli.entry import Stopped, entry_point, report_errors
from predrnn.data.array_source import ArraySource
from predrnn.data.layout import Layout
from predrnn.data.normalization import check_finite, value_range
from predrnn.data.sources import open_clips
from predrnn.errors import BadValue, DataError
from predrnn.files import atomic_outputs, check_output
from predrnn.threads import share_cpus


def read_observed(
    cfg: DictConfig, network, normalization, num_predictions: int
) -> tuple[np.ndarray, np.ndarray | None, Layout]:
    """(N, J, C, H, W) of the last J frames of each input clip, for a network that reads actions
    (N, J + K − 1, A) of those frames and of the K predicted ones but the last (else None), and
    the layout to write the predictions in. The frames' values must suit the checkpoint's
    `normalization`: far outside its range is an error, beyond it a warning line."""
    uint8_model = normalization.uint8
    grey = bool(cfg.data.grey) or network.in_channels == 1  # colour videos for a grey model
    reads_actions = "actions" in getattr(network, "conditioning", ())
    actions_key = cfg.data.get("actions_key")
    if reads_actions and actions_key is None:
        raise BadValue(
            "actions_key", None, f"must name the actions of input={cfg.input}: the model reads "
            f"{getattr(network, 'action_channels', 'its')} action values per frame", "actions",
        ).in_group("data")  # fmt: skip
    actions_key = actions_key if reads_actions else None  # a model without actions ignores them
    clips = open_clips(
        cfg.input, cfg.data.key, cfg.data.layout, grey, path_key="input", actions_key=actions_key,
        future_actions=num_predictions - 1,
    )  # fmt: skip
    source = clips[0].source
    layout = (
        source.layout if isinstance(source, ArraySource) else Layout("NTHWC" if source.frame_shape[0] > 1 else "NTHW")
    )
    c, h, w = source.frame_shape
    want = (network.in_channels, *network.image_size)
    if (c, h, w) != want:
        raise DataError(
            f"input={cfg.input} frames are {h}x{w}x{c}, the model was trained on {want[1]}x{want[2]}x{want[0]} "
            "(height x width x channels): give frames of that shape (data.layout names the axes)"
        )
    need = getattr(network, "action_channels", None)
    if reads_actions and need is not None and clips[0].action_channels != need:
        raise DataError(
            f"data.actions_key={actions_key} of input={cfg.input} gives {clips[0].action_channels} values per frame, "
            f"the model was trained on {need}: give actions of that length"
        )
    j = network.input_length
    short = next((clip for clip in clips if clip.length < j), None)
    if short is not None:
        raise DataError(
            f"input={cfg.input} has {short.length} frames, the model observes input_length={j}: give at least {j}"
        )
    blocks, actions = [], []
    for clip in clips:
        block = clip.read(clip.length - j, clip.length)
        check_finite(block, clip, clip.length - j)
        blocks.append(block)
        if reads_actions:  # the observed frames' actions, then the predicted frames' (the last never read)
            actions.append(clip.read_actions(clip.length - j, clip.length + num_predictions - 1))
    frames = np.stack(blocks)
    if frames.dtype == np.uint8 and not uint8_model:  # uint8 reads as x / 255: the units would not match
        raise DataError(
            f"input={cfg.input} holds uint8 frames, the model was trained on float frames (their units, "
            f"{normalization.low.min().item():.4g} to {normalization.high.max().item():.4g}): give them as float in "
            "those units, e.g. frames.astype(np.float32)"
        )
    if frames.dtype != np.uint8:
        dtype, frames = frames.dtype, frames.astype(np.float32)
        if uint8_model and (frames.min() < 0 or frames.max() > 1):
            raise DataError(
                f"input={cfg.input} holds {dtype} values in [{frames.min():.3g}, {frames.max():.3g}], the model was "
                "trained on uint8 frames: give uint8 0-255 or float frames in [0, 1]"
            )
        for line in normalization.check_range(*value_range(frames), f"input={cfg.input}"):
            print(f"predrnn-predict: {line}", file=sys.stderr)
    return frames, (np.stack(actions) if reads_actions else None), layout


def predict(cfg: DictConfig) -> Path:
    import torch

    from predrnn.export import Rollout
    from predrnn.training import media
    from predrnn.training.fastpath import autocast_dtype

    share_cpus(1)
    batch_size = checks.integer("batch_size", cfg.batch_size, 64, minimum=1)
    if cfg.num_predictions is not None:
        checks.integer("num_predictions", cfg.num_predictions, 10, minimum=1)
    checks.boolean("overwrite", cfg.overwrite)
    clip = checks.boolean("clip", cfg.get("clip", False))
    out = check_output(cfg.output, ".npy", "output", inputs=[cfg.input], overwrite=cfg.overwrite)
    gif_name = cfg.gif or out.with_name(f"{out.stem}_preview.gif")
    gif = check_output(gif_name, ".gif", "gif", inputs=[cfg.input, out], overwrite=cfg.overwrite)
    device = _device(cfg.accelerator)
    ckpt = resolve_checkpoint(cfg.ckpt_path, single_run_checkpoints(cfg.paths.log_dir), "under logs/train")
    opened = open_checkpoint(
        ckpt, cfg, compile=cfg.module.compile, channels_last=cfg.module.channels_last,
        describe=lambda: described_network(cfg),
    )  # fmt: skip
    print(f"predrnn-predict: checkpoint {opened.describe()}")
    module = opened.module
    net, norm = module.network, module.normalization
    k = cfg.num_predictions or opened.trained_future_frames(cfg.data)
    frames, actions, layout = read_observed(cfg, net, norm, k)
    n = len(frames)
    module = module.to(device).eval()
    module.fast.prepare(net, device, key="module.compile")  # channels-last and compiled cells, as in training
    dtype = autocast_dtype(cfg.precision)
    rollout = Rollout(net, k, norm)  # encode, run free for k frames, decode: what predrnn-export exports
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
    result = media.to_uint8(units) if frames.dtype == np.uint8 else units.numpy().astype(np.float32)
    result = layout.from_ntchw(result)
    norm = norm.cpu()
    observed = norm.metric(norm.units(torch.from_numpy(frames[0])))
    try:
        with atomic_outputs([out, gif], cfg.overwrite) as (npy_tmp, gif_tmp):  # both, or neither
            np.save(npy_tmp, result)
            media.write_prediction_gif(gif_tmp, observed, norm.metric(units[0]))
    except Stopped as stop:  # Ctrl-C / SIGTERM while writing: neither output changed
        stop.not_written = f"{out} and {gif} were not written"
        raise
    print(
        f"predicted {n} x {k} frames -> {out.resolve()} ({result.dtype} {tuple(result.shape)}, layout {layout} with "
        f"T = predicted frames), GIF -> {gif.resolve()}"
    )
    return out


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
