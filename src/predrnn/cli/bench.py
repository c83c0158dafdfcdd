"""`predrnn-bench`: time the training step in each mode, Trainer.fit, prediction and the data.

Prints one JSON line per case. Timings: median per step after warm-up, CUDA events on a
GPU, a synchronised wall clock on the CPU. Model TFLOP/s counts 3 × the forward FLOPs
(analytic, from the conv shapes). Compare figures from the same run and card only.
The harness is `predrnn.bench`; its training step minimises the training module's own loss
(auxiliary losses weighted as in training), so what is timed is what trains.

    predrnn-bench                           # paper config on the GPU (small on CPU), all suites
    predrnn-bench --suite data              # generator sequences/s
    predrnn-bench --suite train --batch-sizes 8,64 --modes eager_fp32,cuda_graph
    predrnn-bench --suite train --device cpu --size small,2x32,4x64 --modes eager_fp32,bf16,bf16_channels_last,compiled
    predrnn-bench --suite compile --cold    # seconds to the first compiled step, graphs built
"""

from __future__ import annotations

import argparse
import sys

import torch

from predrnn.bench.modes import MODES
from predrnn.bench.networks import SIZES
from predrnn.bench.suites import run
from predrnn.config_groups import CONF_DIR


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="predrnn-bench", description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="all", choices=["all", "train", "compile", "predict", "fit", "data"])
    parser.add_argument(
        "--size", default=None,
        help=f"comma list of {', '.join(SIZES)} (train, predict; the other suites take the first); "
        "paper on GPU, small on CPU by default",
    )  # fmt: skip
    parser.add_argument("--models", default="predrnn", help="comma list of conf/model names to time (train, predict)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--batch-sizes", default=None, help="comma list; default 8,64 on GPU, 8 on CPU")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma list of {', '.join(MODES)}")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 30 GPU, 3 CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 5 GPU, 1 CPU)")
    parser.add_argument("--fit-steps", type=int, default=None, help="timed Trainer.fit steps")
    parser.add_argument("--fit-overrides", nargs="*", default=[], help="extra Hydra overrides for the fit case")
    parser.add_argument(
        "--layer-norm", action="store_true", help="layer norm in the timed network (paper_mnist has it; official not)"
    )
    parser.add_argument(
        "--compile-mode", default="default", choices=["default", "max-autotune-no-cudagraphs"],
        help="torch.compile mode of the cells in the compiled modes",
    )  # fmt: skip
    parser.add_argument("--cold", action="store_true", help="compile suite: bypass inductor's on-disk cache")
    parser.add_argument("--predict-batch", type=int, default=64)
    parser.add_argument("--data-seconds", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(sorted(unknown))}: use {', '.join(MODES)}")
    args.modes = modes
    args.sizes = [s for s in (args.size or "").split(",") if s]
    if set(args.sizes) - set(SIZES):
        parser.error(f"unknown size(s) {', '.join(sorted(set(args.sizes) - set(SIZES)))}: use {', '.join(SIZES)}")
    args.models = [m for m in args.models.split(",") if m]
    known = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
    if set(args.models) - set(known):
        parser.error(f"unknown model(s) {', '.join(sorted(set(args.models) - set(known)))}: use {', '.join(known)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("predrnn-bench: error: --device cuda but no CUDA device is visible", file=sys.stderr)
        sys.exit(2)
    run(args, device)


if __name__ == "__main__":
    main()
