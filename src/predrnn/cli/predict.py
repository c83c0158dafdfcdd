"""`predrnn-predict ckpt_path=… input=… output=…`: predict the next frames of given clips.

Input: a .npy (T, H, W) or (N, T, H, W), uint8 0-255 or float 0-1; a GIF; or a folder of PNG
frames. The last `input_length` frames are the observations. Output: the predicted frames as
one .npy (N, K, H, W) in the input's dtype, and a GIF of the first clip with its prediction.
Both outputs are checked before any work (never an input, never an existing file unless
overwrite=true) and written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from predrnn import checks
from predrnn.build import future_frames, official_network
from predrnn.checkpoints import last_checkpoints, load_module, resolve_checkpoint
from predrnn.cli.entry import entry_point, report_errors
from predrnn.data.arrays import load_npy
from predrnn.errors import BadValue, DataError
from predrnn.files import atomic_path, check_output
from predrnn.threads import share_cpus

FORMS = "a .npy (T, H, W) or (N, T, H, W), a .gif, or a folder of .png frames"


def read_frames(path: str | Path, key: str = "input") -> np.ndarray:
    """(N, T, H, W) uint8 or float32 in [0, 1] from a .npy, a GIF or a folder of PNGs."""
    import imageio.v2 as imageio

    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{key}={path} not found: give {FORMS}")
    try:
        if path.is_dir():
            files = sorted(path.glob("*.png"))
            if not files:
                raise DataError(f"{key}={path} holds no .png frames: give {FORMS}")
            array = np.stack([_grey(imageio.imread(f)) for f in files])
        elif path.suffix.lower() == ".gif":
            array = np.stack([_grey(f) for f in imageio.mimread(path)])
        else:
            array = load_npy(path, key)
    except DataError:
        raise
    except (OSError, ValueError) as err:
        raise DataError(f"{key}={path} can't be read ({' '.join(str(err).split())[:100]}): give {FORMS}")
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise DataError(f"{key}={path} has shape {array.shape}: give {FORMS}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype.kind != "f":
        raise DataError(f"{key}={path} holds {array.dtype} frames: give uint8 0-255 or float 0-1 (convert with NumPy)")
    array = np.asarray(array, dtype=np.float32)
    finite = np.isfinite(array)
    if not finite.all():
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise DataError(
            f"{key}={path} holds NaN/inf, first at index {first} (clip, frame, row, col): fix or drop those frames"
        )
    if array.min() < 0 or array.max() > 1:
        raise DataError(
            f"{key}={path} holds floats in [{array.min():.3g}, {array.max():.3g}]: give float frames in [0, 1] or uint8 0-255"
        )
    return array


def _grey(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 3:
        frame = frame[..., :3].mean(axis=-1).round().astype(np.uint8)
    return frame


def predict(cfg: DictConfig) -> Path:
    import torch

    from predrnn.training import media
    from predrnn.training.fastpath import autocast_dtype

    share_cpus(1)
    batch_size = checks.integer("batch_size", cfg.batch_size, 64, minimum=1)
    if cfg.num_predictions is not None:
        checks.integer("num_predictions", cfg.num_predictions, 10, minimum=1)
    checks.boolean("overwrite", cfg.overwrite)
    out = check_output(cfg.output, ".npy", "output", inputs=[cfg.input], overwrite=cfg.overwrite)
    gif_name = cfg.gif or out.with_name(f"{out.stem}_preview.gif")
    gif = check_output(gif_name, ".gif", "gif", inputs=[cfg.input, out], overwrite=cfg.overwrite)
    device = _device(cfg.accelerator)
    ckpt = resolve_checkpoint(cfg.ckpt_path, last_checkpoints(cfg.paths.log_dir), "under logs/train")
    module, state = load_module(
        ckpt, compile=cfg.module.compile, channels_last=cfg.module.channels_last,
        official=lambda: official_network(cfg),
    )  # fmt: skip
    net = module.network
    frames = read_frames(cfg.input)
    n, t, h, w = frames.shape
    j = net.input_length
    if (h, w) != tuple(net.image_size):
        raise DataError(
            f"input={cfg.input} frames are {h}x{w}, the model was trained on {net.image_size[0]}x{net.image_size[1]}"
        )
    if t < j:
        raise DataError(f"input={cfg.input} has {t} frames, the model observes input_length={j}: give at least {j}")
    k = cfg.num_predictions or future_frames(state, cfg)
    observed = frames[:, t - j :]
    unit = observed.astype(np.float32) / 255.0 if frames.dtype == np.uint8 else observed
    module = module.to(device).eval()
    module.fast.prepare(net, device, key="module.compile")  # channels-last and compiled cells, as in training
    dtype = autocast_dtype(cfg.precision)
    outputs = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        for start in range(0, n, batch_size):
            x = torch.from_numpy(unit[start : start + batch_size]).to(device)[:, :, None]
            padded = torch.cat([x, x.new_zeros(x.shape[0], k, *x.shape[2:])], dim=1)  # future unused
            outputs.append(module(padded)[:, j - 1 :, 0].float().clamp(0, 1).cpu())
    pred = torch.cat(outputs).numpy()
    result = media.to_uint8(pred) if frames.dtype == np.uint8 else pred.astype(frames.dtype)
    with atomic_path(out) as tmp:
        np.save(tmp, result)
    with atomic_path(gif) as tmp:
        media.write_prediction_gif(tmp, torch.from_numpy(unit[0])[:, None], torch.from_numpy(pred[0])[:, None])
    print(f"predicted {n} x {k} frames -> {out.resolve()} ({result.dtype}), GIF -> {gif.resolve()}")
    return out


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
