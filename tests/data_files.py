"""Writing the same clips in every format `data=arrays` reads (for the tests): arrays in several
layouts, HDF5, Zarr, GIFs, MP4s and a KTH-style tree of PNG folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_formats(folder: Path, clips: np.ndarray) -> dict[str, dict]:
    """clips: uint8 (N, T, H, W) grey. Returns {format: ArraysDataModule keyword arguments}."""
    import h5py
    import imageio.v3 as iio
    import zarr

    folder.mkdir(parents=True, exist_ok=True)
    n = len(clips)
    np.save(folder / "clips.npy", clips)
    np.save(folder / "clips_tnhw.npy", np.ascontiguousarray(clips.transpose(1, 0, 2, 3)))
    np.savez(folder / "clips.npz", frames=clips[..., None])
    with h5py.File(folder / "clips.h5", "w") as f:
        f.create_dataset("group/frames", data=clips[..., None], chunks=(1, 4, *clips.shape[2:], 1))
        f.create_dataset("other", data=np.zeros(3))
    store = zarr.open_array(str(folder / "clips.zarr"), mode="w", shape=(n, clips.shape[1], 1, *clips.shape[2:]),
                            dtype="uint8", chunks=(1, 4, 1, *clips.shape[2:]))  # fmt: skip
    store[:] = clips[:, :, None]
    from zarr.storage import ZipStore

    zipped = ZipStore(folder / "clips_zarr.zip", mode="w")
    zarr.create_array(zipped, name="frames", shape=clips.shape, dtype="uint8", chunks=(1, 4, *clips.shape[2:]))[:] = (
        clips
    )
    zipped.close()
    (folder / "gifs").mkdir(exist_ok=True)
    (folder / "mp4s").mkdir(exist_ok=True)
    for i in range(n):
        iio.imwrite(folder / "gifs" / f"clip{i}.gif", clips[i], duration=100, loop=0)
        rgb = np.repeat(clips[i, ..., None], 3, -1)
        iio.imwrite(folder / "mp4s" / f"clip{i}.mp4", rgb, fps=5, codec="libx264")
        clip_dir = folder / "tree" / f"person{i + 1:02d}_boxing_d1"
        clip_dir.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(clips[i]):
            iio.imwrite(clip_dir / f"frame{t}.png", frame)  # unpadded numbers: frame10 after frame9
    return {
        "npy": {"path": str(folder / "clips.npy")},
        "npy_tnhw": {"path": str(folder / "clips_tnhw.npy"), "layout": "TNHW"},
        "npz": {"path": str(folder / "clips.npz"), "key": "frames", "layout": "NTHWC"},
        "hdf5": {"path": str(folder / "clips.h5"), "key": "group/frames", "layout": "NTHWC"},
        "zarr": {"path": str(folder / "clips.zarr"), "layout": "NTCHW"},
        "zarr_zip": {"path": str(folder / "clips_zarr.zip"), "key": "frames", "layout": "NTHW"},
        "gif": {"path": str(folder / "gifs"), "grey": True},
        "png_tree": {"path": str(folder / "tree")},
        "mp4": {"path": str(folder / "mp4s"), "grey": True},
    }
