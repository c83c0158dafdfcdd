"""How fast `data=xarray` feeds training, and how much memory it holds, beside `data=arrays`.

    python benchmarks/xarray_data.py                       # every case, JSON lines
    python benchmarks/xarray_data.py --times 4000 --seconds 20

Writes one float32 time series (T, 64, 64) at a 5-minute step three ways in a temporary folder:
a chunked local Zarr store and a chunked netCDF-4 file (both read through `data=xarray`,
CF-decoded, lazily, a window at a time) and the same values as a `.npy` (T, H, W) read through
`data=arrays` (memory-mapped). Each case runs in a child process of its own: the training
loader (windows of 20 frames, 2 workers by default) is drawn from for --seconds, and the child
prints sequences per second and its peak resident memory (its own and its workers', each
`ru_maxrss`). The Zarr store is then written again 4× longer and its memory measured, to show
that memory doesn't grow with the archive. Not a test: run it on purpose.
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

SIZE = 64  # frames of SIZE × SIZE
LENGTH = 20  # frames per sequence, as Moving MNIST's 10 → 10


def write(folder: Path, times: int, kinds: tuple[str, ...]) -> dict[str, Path]:
    """The series in each of `kinds` (zarr, netcdf, npy), written a block of times at a time."""
    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(0)
    values = rng.random((times, SIZE, SIZE), dtype=np.float32) * 60
    stamps = pd.date_range("2024-01-01", periods=times, freq="5min")
    ds = xr.Dataset(
        {"dbz": (("time", "y", "x"), values, {"units": "dBZ", "long_name": "reflectivity"})},
        coords={"time": stamps, "y": np.arange(SIZE) * 1000.0, "x": np.arange(SIZE) * 1000.0},
    )
    paths = {}
    if "zarr" in kinds:
        paths["zarr"] = folder / f"series_{times}.zarr"
        ds.to_zarr(paths["zarr"], encoding={"dbz": {"chunks": (LENGTH, SIZE, SIZE)}}, mode="w")
    if "netcdf" in kinds:
        paths["netcdf"] = folder / f"series_{times}.nc"
        ds.to_netcdf(paths["netcdf"], encoding={"dbz": {"chunksizes": (LENGTH, SIZE, SIZE)}})
    if "npy" in kinds:
        paths["npy"] = folder / f"series_{times}.npy"
        np.save(paths["npy"], values)
    return paths


def measure(kind: str, path: str, seconds: float, workers: int, batch: int) -> dict:
    """In the child: sequences per second of the training loader, and the peak memory."""
    import torch

    torch.set_num_threads(1)
    common = {"input_length": 10, "total_length": LENGTH, "stride": 1, "batch_size": batch, "num_workers": workers,
              "pin_memory": False}  # fmt: skip
    if kind == "npy":
        from predrnn.data.arrays_datamodule import ArraysDataModule

        dm = ArraysDataModule(path=path, layout="THW", **common)
    else:
        from predrnn.data.xarray_datamodule import XarrayDataModule

        dm = XarrayDataModule(path=path, **common)
    start = time.perf_counter()
    dm.check_sources()
    setup = time.perf_counter() - start
    loader = dm.train_dataloader()
    sequences, first = 0, None
    start = time.perf_counter()
    for frames in loader:
        frames = frames["frames"] if isinstance(frames, dict) else frames
        if first is None:  # workers started, first batch read: time from here
            first, start = time.perf_counter() - start, time.perf_counter()
            continue
        sequences += frames.shape[0]
        if time.perf_counter() - start >= seconds:
            break
    elapsed = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del loader  # workers exit: their peak is then in RUSAGE_CHILDREN
    import gc

    gc.collect()
    time.sleep(0.5)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {
        "sequences_per_s": round(sequences / elapsed, 1), "setup_s": round(setup, 2), "first_batch_s": round(first, 2),
        "peak_rss_mb": round(own / 1e6, 1), "worker_peak_rss_mb": round(children / 1e6, 1),
    }  # fmt: skip


def child(kind: str, path: Path, args) -> dict:
    command = [sys.executable, __file__, "--child", kind, str(path), "--seconds", str(args.seconds),
               "--workers", str(args.workers), "--batch", str(args.batch)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--times", type=int, default=3000, help="times in the small series")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds of loading per case")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.seconds, args.workers, args.batch)))
        return
    machine = {"machine": platform.node(), "cpus": os.cpu_count(), "processor": platform.processor() or None}
    with tempfile.TemporaryDirectory() as tmp:
        small = write(Path(tmp), args.times, ("zarr", "netcdf", "npy"))
        results = {}
        for kind, path in small.items():
            results[kind] = child(kind, path, args)
            reader = "data=arrays (.npy)" if kind == "npy" else f"data=xarray ({kind})"
            print(json.dumps({"bench": "xarray_data", "case": kind, "reader": reader, "times": args.times,
                              "frame": [SIZE, SIZE], "length": LENGTH, "workers": args.workers, "batch": args.batch,
                              "size_mb": size_mb(path), **results[kind], **machine}), flush=True)  # fmt: skip
        large = write(Path(tmp), 4 * args.times, ("zarr",))["zarr"]
        big = child("zarr", large, args)
        grown = big["peak_rss_mb"] - results["zarr"]["peak_rss_mb"]
        worker_grown = big["worker_peak_rss_mb"] - results["zarr"]["worker_peak_rss_mb"]
        npy_rate = results["npy"]["sequences_per_s"]
        print(json.dumps({"bench": "xarray_data", "case": "zarr_4x", "reader": "data=xarray (zarr)",
                          "times": 4 * args.times, "size_mb": size_mb(large), **big,
                          "rss_growth_mb": round(grown, 1), "worker_rss_growth_mb": round(worker_grown, 1),
                          "bounded": grown < 200 and worker_grown < 200, **machine}))  # fmt: skip
        print(json.dumps({"bench": "xarray_data", "case": "summary",
                          "zarr_vs_npy": round(results["zarr"]["sequences_per_s"] / npy_rate, 3),
                          "netcdf_vs_npy": round(results["netcdf"]["sequences_per_s"] / npy_rate, 3),
                          "goal": ">= 0.5 of .npy and >= 600 sequences/s", **machine}))  # fmt: skip


if __name__ == "__main__":
    main()
