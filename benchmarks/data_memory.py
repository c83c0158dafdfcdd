"""Peak memory of training from an HDF5 or Zarr file larger than a memory budget.

    python benchmarks/data_memory.py --format hdf5 --file-gb 2 --budget-gb 1.5

Writes a float32 (N, T, H, W, C) data set of about --file-gb in a temporary folder (block by
block), then runs `predrnn-train data=arrays` on it in a child process (a tiny network, the
statistics pass over the training split, --steps steps, validation and test) and prints one
JSON line with the child's peak RSS (ru_maxrss). Not a test: run it on purpose.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write(path: Path, fmt: str, clips: int, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    full = (clips, *shape)
    if fmt == "hdf5":
        import h5py

        with h5py.File(path, "w") as f:
            dset = f.create_dataset("x", shape=full, dtype="float32", chunks=(1, 10, *shape[1:]))
            for n in range(clips):
                dset[n] = rng.random(shape, dtype=np.float32)
    else:
        import zarr

        z = zarr.open_array(str(path), mode="w", shape=full, dtype="float32", chunks=(1, 10, *shape[1:]))
        for n in range(clips):
            z[n] = rng.random(shape, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--format", choices=("hdf5", "zarr"), default="hdf5")
    parser.add_argument("--file-gb", type=float, default=2.0)
    parser.add_argument("--budget-gb", type=float, default=1.5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    shape = (40, 128, 128, 1)  # frames per clip, H, W, C
    clip_bytes = int(np.prod(shape)) * 4
    clips = max(4, int(args.file_gb * 1e9 / clip_bytes))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("data.h5" if args.format == "hdf5" else "data.zarr")
        start = time.perf_counter()
        write(path, args.format, clips, shape)
        written = time.perf_counter() - start
        key = ["data.key=x"] if args.format == "hdf5" else []
        command = [
            str(Path(sys.executable).parent / "predrnn-train"), "data=arrays", f"data.path={path}", *key,
            "data.layout=NTHWC", f"data.num_workers={args.workers}", "data.batch_size=4", "trainer=cpu",
            "logger=csv", "model.hidden_channels=[8]", "model.kernel_size=3", f"trainer.max_steps={args.steps}",
            "trainer.limit_val_batches=2", "trainer.limit_test_batches=2", f"paths.root_dir={tmp}",
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"training failed ({proc.returncode}): {proc.stderr[-2000:]}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: kB
        size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    print(json.dumps({
        "bench": "data_memory", "format": args.format, "file_gb": round(size / 1e9, 3), "clips": clips,
        "frame": list(shape[1:]), "steps": args.steps, "workers": args.workers,
        "peak_rss_gb": round(peak / 1e9, 3), "budget_gb": args.budget_gb, "under_budget": peak < args.budget_gb * 1e9,
        "train_seconds": round(seconds, 1), "write_seconds": round(written, 1), "machine": platform.node(),
        "cpus": os.cpu_count(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
