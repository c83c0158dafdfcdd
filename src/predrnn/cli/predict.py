"""`predrnn-predict ckpt_path=… input=… output=…`: predict the next frames of given clips.

Input: a .npy (T, H, W) or (N, T, H, W), uint8 0-255 or float 0-1; a GIF; or a folder of PNG
frames. The last `input_length` frames are the observations. Output: the predicted frames as
one .npy (N, K, H, W) in the input's dtype, and a GIF of the first clip with its prediction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from predrnn.config import entry_point, report_errors, resolve_checkpoint
from predrnn.errors import DataError
from predrnn.toolchain import require_cpu_compiler


def read_frames(path: str | Path) -> np.ndarray:
    """(N, T, H, W) uint8 or float32 from a .npy, a GIF or a folder of PNGs."""
    import imageio.v2 as imageio

    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"input {path} not found: give a .npy, a .gif or a folder of PNG frames")
    try:
        if path.is_dir():
            files = sorted(path.glob("*.png"))
            if not files:
                raise DataError(f"no .png frames in {path}")
            array = np.stack([_grey(imageio.imread(f)) for f in files])
        elif path.suffix.lower() == ".gif":
            array = np.stack([_grey(f) for f in imageio.mimread(path)])
        else:
            array = np.load(path, allow_pickle=False)
    except DataError:
        raise
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read input {path} ({err}): give a .npy, a .gif or a folder of PNG frames")
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise DataError(f"input {path} has shape {array.shape}; expected (T, H, W) or (N, T, H, W)")
    if array.dtype != np.uint8:
        array = array.astype(np.float32)
        if array.min() < 0 or array.max() > 1:
            raise DataError(f"input {path} is float outside [0, 1]: give uint8 0-255 or float 0-1 frames")
    return array


def _grey(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 3:
        frame = frame[..., :3].mean(axis=-1).round().astype(np.uint8)
    return frame


def predict(cfg: DictConfig) -> Path:
    import torch

    from predrnn.cli.checkpoint import load_module
    from predrnn.training import media

    ckpt = resolve_checkpoint(cfg.ckpt_path, cfg.paths.log_dir)
    module = load_module(ckpt, compile=cfg.compile, channels_last=cfg.channels_last)
    device = _device(cfg.accelerator)
    require_cpu_compiler("compile", cfg.compile, device.type)
    net = module.network
    frames = read_frames(cfg.input)
    n, t, h, w = frames.shape
    j = net.input_length
    if (h, w) != tuple(net.image_size):
        raise DataError(f"input frames are {h}x{w}, the model was trained on {net.image_size[0]}x{net.image_size[1]}")
    if t < j:
        raise DataError(f"input has {t} frames, the model needs at least input_length={j}")
    k = cfg.num_predictions if cfg.num_predictions is not None else _trained_future(ckpt)
    if k <= 0:
        raise DataError(f"num_predictions must be positive, got {k}")
    observed = frames[:, t - j :]
    unit = observed.astype(np.float32) / 255.0 if frames.dtype == np.uint8 else observed
    module = module.to(device).eval()
    module.setup("predict")  # channels-last and compiled cells, as in training and predrnn-eval
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(str(cfg.precision))
    outputs = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        for start in range(0, n, cfg.batch_size):
            x = torch.from_numpy(unit[start : start + cfg.batch_size]).to(device)[:, :, None]
            padded = torch.cat([x, x.new_zeros(x.shape[0], k, *x.shape[2:])], dim=1)  # future unused
            outputs.append(module(padded)[:, j - 1 :, 0].float().clamp(0, 1).cpu())
    pred = torch.cat(outputs).numpy()
    result = media.to_uint8(pred) if frames.dtype == np.uint8 else pred.astype(frames.dtype)
    out = Path(cfg.output).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, result)
    gif = Path(cfg.gif) if cfg.gif else out.with_suffix(".gif")
    media.write_prediction_gif(gif, torch.from_numpy(unit[0])[:, None], torch.from_numpy(pred[0])[:, None])
    print(f"predicted {n} x {k} frames -> {out} ({result.dtype}), GIF -> {gif}")
    return out


def _trained_future(ckpt: str) -> int:
    """Future frames the model was trained on, from the run's saved data config."""
    import torch

    # memory-mapped: only the metadata is read, not the weights load_module already has
    state = torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True)
    data = state.get("datamodule_hyper_parameters", {})
    return int(data.get("total_length", 20)) - int(data.get("input_length", 10))


def _device(accelerator: str):
    import torch

    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


_task = report_errors("predrnn-predict")(predict)  # the Hydra task, for in-process use
main = entry_point("predict", "predrnn-predict", predict)


if __name__ == "__main__":
    main()
