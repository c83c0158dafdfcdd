"""Reading a window of a video file, as a training process does: predrnn's `VideoSource.read`
(PyAV directly) beside the same frames through imageio's PyAV plugin, each in a process that
holds torch and Lightning (a training process's heap: imageio's plugin collects garbage on every
close, which costs in proportion to it). docs/data.md, "Formats".

    python benchmarks/video_read.py                 # a 24-frame 32 × 48 MP4, windows of 10, 20 reads each
    python benchmarks/video_read.py --frames 200 --size 128 --reads 10

Prints one JSON line per reader (seconds per window read) and one with their ratio. Not a test:
run it on purpose (RESULTS.md records the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=32, help="frame height (the width is 1.5 times it)")
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()

    import imageio.v3 as iio
    import pytorch_lightning  # noqa: F401 (a training process's heap)
    import torch  # noqa: F401

    from predrnn.data.readers.video import VideoSource

    h, w = args.size, args.size * 3 // 2
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (args.frames, h, w, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        iio.imwrite(path, frames, plugin="pyav", codec="libx264", fps=10)
        start = args.frames - args.window  # the last window: decoded from the video's start
        source = VideoSource(path)

        def predrnn() -> np.ndarray:
            return source.read(0, start, args.frames)

        def imageio_plugin() -> np.ndarray:
            return np.stack([np.moveaxis(f, -1, 0) for f in iio.imiter(path, plugin="pyav")][start:])

        assert np.array_equal(predrnn(), imageio_plugin())  # the same frames, bit for bit
        common = {"bench": "video_read", "machine": platform.node(), "cpus": os.cpu_count(), "frames": args.frames,
                  "height": h, "width": w, "window": args.window, "reads": args.reads}  # fmt: skip
        seconds = {}
        for name, read in (("predrnn", predrnn), ("imageio_pyav_plugin", imageio_plugin)):
            t = time.perf_counter()
            for _ in range(args.reads):
                read()
            seconds[name] = (time.perf_counter() - t) / args.reads
            print(json.dumps({**common, "reader": name, "s_per_window": round(seconds[name], 5)}), flush=True)
        ratio = seconds["imageio_pyav_plugin"] / seconds["predrnn"]
        print(json.dumps({**common, "imageio_over_predrnn": round(ratio, 1)}), flush=True)


if __name__ == "__main__":
    main()
