"""Pictures of predictions: an image strip, a GIF per sequence, the per-frame metric plot.

All functions take float frames (T, C, H, W) on the metric scale, [0, 1], and return or write
uint8 images (loggers need uint8; GIFs are written with imageio, no moviepy): in colour for
three channels, otherwise one chosen channel in grey. NaN (a pixel without coverage) is drawn
at 0, the data's lowest value, where the model's input had it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from torch import Tensor


def to_uint8_image(frames: Tensor | np.ndarray) -> np.ndarray:
    """(…, H, W) float in [0, 1] (values outside are clipped, NaN drawn at 0) -> uint8 0-255."""
    array = frames.detach().float().cpu().numpy() if isinstance(frames, Tensor) else np.asarray(frames)
    if array.dtype == np.uint8:
        return array
    if np.isnan(array).any():  # no coverage: the fill value (the data's lowest); the dtype kept
        array = np.nan_to_num(array, nan=0.0)
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def frame_images(frames: Tensor, channel: int | None = None) -> np.ndarray:
    """(T, C, H, W) in [0, 1] -> uint8 pictures: (T, H, W, 3) in colour when C = 3 and no
    `channel` is chosen, otherwise (T, H, W) grey of `channel` (default 0)."""
    if frames.shape[1] == 3 and channel is None:
        return to_uint8_image(frames.permute(0, 2, 3, 1))
    c = channel or 0
    if not 0 <= c < frames.shape[1]:
        raise ValueError(f"channel {c} of frames with {frames.shape[1]} channels")
    return to_uint8_image(frames[:, c])


def _canvas(height: int, width: int, like: np.ndarray, fill: int) -> np.ndarray:
    return np.full((height, width, *like.shape[3:]), fill, np.uint8)


ROW_LABELS = ("input", "truth", "prediction")
LABEL_WIDTH = 64  # px of the label column left of the frames


def _label_column(height: int, gap: int, like: np.ndarray) -> np.ndarray:
    """The strip's left column: each row's name (ROW_LABELS) in white on grey, at the row's middle."""
    from PIL import Image, ImageDraw, ImageFont

    total = len(ROW_LABELS) * height + (len(ROW_LABELS) - 1) * gap
    column = Image.new("L", (LABEL_WIDTH, total), 64)
    draw, font = ImageDraw.Draw(column), ImageFont.load_default()
    for r, label in enumerate(ROW_LABELS):
        top, bottom = draw.textbbox((0, 0), label, font=font)[1::2]
        draw.text((3, r * (height + gap) + (height - (bottom - top)) // 2 - top), label, fill=255, font=font)
    grey = np.asarray(column, np.uint8)
    return np.repeat(grey[..., None], like.shape[3], axis=2) if like.ndim == 4 else grey


def strip(inputs: Tensor, truth: Tensor, prediction: Tensor, gap: int = 2, channel: int | None = None) -> np.ndarray:
    """One sequence as an image: row 1 inputs, row 2 truth | row 3 prediction aligned under it,
    each row named in a label column on the left (input / truth / prediction).

    inputs (J, C, H, W), truth and prediction (K, C, H, W), in [0, 1]."""
    rows = [frame_images(x, channel) for x in (inputs, truth, prediction)]
    height, width = rows[0].shape[1:3]
    cols = max(len(r) for r in rows)
    left = LABEL_WIDTH + gap
    image = _canvas(3 * height + 2 * gap, left + cols * (width + gap) - gap, rows[0], 128)
    image[:, :LABEL_WIDTH] = _label_column(height, gap, rows[0])
    for r, frames in enumerate(rows):
        for c, frame in enumerate(frames):
            y, x = r * (height + gap), left + c * (width + gap)
            image[y : y + height, x : x + width] = frame
    return image


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, image)
    return path


def write_gif(
    path: Path, inputs: Tensor, truth: Tensor, prediction: Tensor, fps: int = 4, channel: int | None = None
) -> Path:
    """A GIF whose frames show truth | prediction side by side (inputs on both sides first)."""
    seen, a, b = (frame_images(x, channel) for x in (inputs, truth, prediction))
    frames = []
    for left, right, fill in [(x, x, 128) for x in seen] + [(x, y, 255) for x, y in zip(a, b)]:
        bar = _canvas(left.shape[0], 2, left[None], fill)
        frames.append(np.concatenate([left, bar, right], axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames, duration=1000 / fps, loop=0)
    return path


def write_prediction_gif(
    path: Path, observed: Tensor, prediction: Tensor, fps: int = 4, channel: int | None = None
) -> Path:
    """A GIF of input | prediction side by side: the observed clip, then the last observed
    frame held on the left while the prediction plays on the right."""
    held = observed[-1:].expand(len(prediction), *observed.shape[1:])
    return write_gif(path, observed, held, prediction, fps, channel)


MAX_PANELS = 10  # the default metrics and, with metrics=nowcast, the CSI of each threshold


def plot_per_frame(
    path: Path, curves: Mapping[str, Mapping[str, Sequence[float | None]]], dashed: Sequence[str] = ()
) -> Path:
    """One PNG with a panel per metric (the first `MAX_PANELS` `<name>_per_frame` the curves hold):
    its value per future frame for each named curve, with a ± std band where a curve comes with
    `<name>_per_frame_std` (the report's mean over seeds). Curves named in `dashed` (the
    baselines) are drawn dashed; an undefined value (None) leaves a gap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(
        k.removesuffix("_per_frame") for c in curves.values() for k in c if k.endswith("_per_frame") and c[k]
    ))[:MAX_PANELS]  # fmt: skip
    columns = min(len(names), 3) or 1
    rows = max(1, -(-len(names) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for label, metrics in curves.items():
            values = metrics.get(f"{name}_per_frame")
            if not values:
                continue
            y = np.asarray([np.nan if v is None else v for v in values], dtype=float)
            frames = np.arange(1, len(y) + 1)
            style = "--" if label in dashed else "-"
            (line,) = ax.plot(frames, y, style, marker="o" if label not in dashed else None, label=label)
            spread = metrics.get(f"{name}_per_frame_std")
            if spread:  # a band of ± one standard deviation (over seeds)
                std = np.asarray([np.nan if v is None else v for v in spread], dtype=float)
                ax.fill_between(frames, y - std, y + std, color=line.get_color(), alpha=0.2)
        ax.set_xlabel("future frame")
        ax.set_title(f"{name.upper()} per frame")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    if len(curves) > 1 and names:
        axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
