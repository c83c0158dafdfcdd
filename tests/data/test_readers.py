"""The readers of `data=arrays` are a seam (docs/architecture.md, "Readers"): the registry picks
the reader of every format by its suffix or its content, a reader module added to the package is
found without any list being edited, and CF-packed values (netCDF-4/HDF5 or Zarr variables with
scale_factor, _FillValue, …; netCDF-3 files) are refused in one line pointing to data=xarray,
never read raw."""

from __future__ import annotations

import importlib
import inspect
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from data_files import write_formats
from helpers import run_main
from predrnn.data.arrays_datamodule import ArraysDataModule
from predrnn.data.readers import registry
from predrnn.data.readers.api import Options, Source
from predrnn.data.readers.array import ArraySource
from predrnn.data.readers.bair import BairSource
from predrnn.data.readers.frames import FrameFolderSource
from predrnn.data.readers.hdf5 import Hdf5Source
from predrnn.data.readers.human36m import Human36MSource
from predrnn.data.readers.netcdf3 import NetCDF3File
from predrnn.data.readers.npy import NpySource
from predrnn.data.readers.npz import NpzSource
from predrnn.data.readers.taxibj import TaxiBJSource
from predrnn.data.readers.video import VideoSource
from predrnn.data.readers.zarr_store import ZarrSource
from predrnn.data.sources import open_clips, open_sources
from predrnn.errors import DataError

# the format tests/data_files.py writes -> the reader of each of its sources
BY_FORMAT = {"npy": NpySource, "npy_tnhw": NpySource, "npz": NpzSource, "hdf5": Hdf5Source, "zarr": ZarrSource,
             "zarr_zip": ZarrSource, "gif": VideoSource, "png_tree": FrameFolderSource, "mp4": VideoSource}  # fmt: skip
CF_HINT = 'read it with data=xarray, which decodes them (docs/data.md, "CF netCDF and Zarr")'


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    """Three grey clips, uint8 (N, T, H, W) = (3, 12, 16, 16)."""
    return np.random.default_rng(0).integers(0, 256, (3, 12, 16, 16), dtype=np.uint8)


@pytest.fixture(scope="module")
def formats(clips, tmp_path_factory) -> dict[str, dict]:
    return write_formats(tmp_path_factory.mktemp("formats"), clips)


def dataset(values: np.ndarray | None = None):
    """An xarray Dataset like a reanalysis field: t2m (time, y, x) in K, 12 times of 16 x 16."""
    import xarray as xr

    rng = np.random.default_rng(1)
    t2m = (270 + 30 * rng.random((12, 16, 16))).astype(np.float32) if values is None else values
    coords = {"time": np.arange(12), "y": np.arange(16.0), "x": np.arange(16.0)}
    return xr.Dataset({"t2m": (("time", "y", "x"), t2m, {"units": "K"})}, coords=coords)


PACKED = {"t2m": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 273.15, "_FillValue": -32767}}


# --- the registry picks the reader --------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BY_FORMAT))
def test_the_registry_picks_each_formats_reader(name, formats, clips):
    path, reader = Path(formats[name]["path"]), BY_FORMAT[name]
    options = Options(formats[name].get("key"), formats[name].get("layout"), formats[name].get("grey", False))
    sources = open_sources(path, options)
    assert {type(s) for s in sources} == {reader}
    if path.is_file() or reader is ZarrSource:  # one source: the path's own reader
        assert registry.reader_for(path) is reader and len(sources) == 1
    else:  # a folder: walked, one source per video or frame folder
        assert registry.reader_for(path) is None and len(sources) == len(clips)
    arrays = reader in (NpySource, NpzSource, Hdf5Source, ZarrSource)
    assert all(isinstance(s, ArraySource) == arrays and (s.layout is not None) == arrays for s in sources)
    found = open_clips(path, **{k: v for k, v in formats[name].items() if k != "path"})
    assert len(found) == len(clips) and all(c.length == 12 and c.source.frame_shape == (1, 16, 16) for c in found)
    if name != "mp4":  # lossy
        np.testing.assert_array_equal(found[1].read(3, 7)[:, 0], clips[1, 3:7])


VIDEOS = [(".mp4", "libx264"), (".mov", "libx264"), (".avi", "mpeg4"), (".mkv", "libx264"), (".webm", "libvpx-vp9")]


@pytest.mark.parametrize("suffix, codec", VIDEOS, ids=[v[0] for v in VIDEOS])
def test_every_video_container_gives_all_its_frames(suffix, codec, tmp_path):
    """Each container docs/data.md lists, written by PyAV's encoders: every frame is read (Matroska
    and WebM record no frame count: their packets are counted), in order, close to what was
    encoded (lossy codecs), and a folder of them trains windows."""
    import imageio.v3 as iio

    t = np.arange(24)[:, None, None]
    y, x = np.mgrid[0:32, 0:48]
    blob = np.exp(-((x - 2 * t) ** 2 + (y - 16) ** 2) / 30)  # a blob crossing the frame: no frame repeats
    grey = (40 + x + 150 * blob).astype(np.uint8)  # smooth: the codecs keep it
    for i in range(5):
        iio.imwrite(tmp_path / f"clip{i}{suffix}", np.repeat(np.roll(grey, i, 0)[..., None], 3, -1), fps=10,
                    codec=codec)  # fmt: skip
    source = VideoSource(tmp_path / f"clip0{suffix}", grey=True)
    assert (source.length, source.frame_shape) == (24, (1, 32, 48))
    got = source.read(0, 0, 24)[:, 0].astype(int)
    distance = np.abs(got[:, None] - grey[None].astype(int)).mean(axis=(2, 3))  # decoded frame × encoded frame
    assert (distance.argmin(axis=1) == np.arange(24)).all()  # each frame is the one encoded there
    assert distance.diagonal().max() < 8, distance.diagonal()  # MPEG-4 part 2 at its default bitrate: < 7
    dm = ArraysDataModule(path=str(tmp_path), grey=True, input_length=5, total_length=10, stride=4, num_workers=0,
                          batch_size=2, val_fraction=0.2, test_fraction=0.2)  # fmt: skip
    assert len(dm.dataset("train")) == 3 * 4  # 3 training clips of 24 frames: windows at 0, 4, 8, 12


def test_probes_read_content_not_suffixes(tmp_path, formats):
    """HDF5 under any name (its signature), a Zarr store without `.zarr`, netCDF-3 whatever its
    suffix (before the HDF5 suffix `.nc`), BAIR TFRecords, and a file nothing reads."""
    dataset().to_netcdf(tmp_path / "t2m.nc", engine="h5netcdf")
    shutil.copy(tmp_path / "t2m.nc", tmp_path / "t2m.nc4")
    shutil.copy(tmp_path / "t2m.nc", tmp_path / "t2m_no_suffix")
    dataset().to_netcdf(tmp_path / "classic.nc", engine="scipy")
    shutil.copytree(formats["zarr"]["path"], tmp_path / "store")
    (tmp_path / "notes.txt").write_text("not data")
    rows = {"t2m.nc": Hdf5Source, "t2m.nc4": Hdf5Source, "t2m_no_suffix": Hdf5Source, "classic.nc": NetCDF3File,
            "store": ZarrSource, "notes.txt": None}  # fmt: skip
    if importlib.util.find_spec("tfrecord") is not None:
        from bair_files import bair_record, write_bair

        write_bair(tmp_path / "traj.tfrecords", [bair_record(0, 3)])
        rows["traj.tfrecords"] = BairSource
    for name, reader in rows.items():
        assert registry.reader_for(tmp_path / name) is reader, name
    for name in ("t2m.nc4", "t2m_no_suffix"):
        (clip,) = open_clips(tmp_path / name, key="t2m", layout="THW")
        np.testing.assert_array_equal(clip.read(0, 12)[:, 0], dataset().t2m.values)
    (store,) = open_clips(tmp_path / "store", layout="NTCHW")[:1]
    assert store.source.frame_shape == (1, 16, 16)
    with pytest.raises(DataError, match=r"notes.txt has an unknown type \(.txt\): give a .npy/.npz/HDF5/Zarr array"):
        open_clips(tmp_path / "notes.txt")


# --- readers are found, not listed ------------------------------------------------------------
def test_discovery_walks_the_package_and_registers_every_reader_declared():
    package = importlib.import_module("predrnn.data.readers")
    files = sorted(p.stem for folder in package.__path__ for p in Path(folder).glob("*.py") if p.stem != "__init__")
    assert registry.reader_modules() == [f"predrnn.data.readers.{f}" for f in files]
    declared = []
    for name in registry.reader_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            concrete = isinstance(value, type) and issubclass(value, Source) and not inspect.isabstract(value)
            if concrete and value.__module__ == name and ("suffixes" in vars(value) or "probe" in vars(value)):
                declared.append(value)  # a class of this module that says which paths it takes
    assert sorted(declared, key=lambda c: c.__name__) == sorted(registry.readers(), key=lambda c: c.__name__)
    assert set(registry.readers()) == {*BY_FORMAT.values(), BairSource, NetCDF3File, TaxiBJSource, Human36MSource}
    assert ArraySource not in registry.readers() and Source not in registry.readers()  # bases, not readers


READER = '''"""A reader written by a test: `.u8frames` files, a line "T H W" then T x H x W bytes."""

import numpy as np

from predrnn.data.readers.api import Source


class U8FramesSource(Source):
    suffixes = (".u8frames",)

    def __init__(self, path):
        with open(path, "rb") as f:
            header = f.readline()
        self.path, self.name, self.offset = path, str(path), len(header)
        self.length, h, w = (int(v) for v in header.split())
        self.frame_shape, self.dtype = (1, h, w), np.dtype(np.uint8)

    @classmethod
    def open(cls, path, options):
        return cls(path)

    def read(self, index, start, stop):
        frames = np.memmap(self.path, np.uint8, "r", self.offset, (self.length, *self.frame_shape))
        return np.array(frames[start:stop])
'''


@pytest.fixture
def dropped_in(tmp_path, monkeypatch):
    """`u8frames.py` as a module of predrnn.data.readers: written in a folder that joins the
    package's `__path__` (so nothing is left in src/), forgotten afterwards."""
    folder = tmp_path / "more_readers"
    folder.mkdir()
    (folder / "u8frames.py").write_text(READER)
    package = importlib.import_module("predrnn.data.readers")
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
    importlib.invalidate_caches()
    registry.readers.cache_clear()
    yield "predrnn.data.readers.u8frames"
    sys.modules.pop("predrnn.data.readers.u8frames", None)
    registry.readers.cache_clear()


def test_a_reader_module_dropped_into_the_package_is_found(tmp_path, dropped_in, clips):
    frames = clips[0]
    (tmp_path / "clip.u8frames").write_bytes(b"12 16 16\n" + frames.tobytes())
    assert dropped_in in registry.reader_modules()
    (reader,) = [r for r in registry.readers() if r.__module__ == dropped_in]
    assert registry.reader_for(tmp_path / "clip.u8frames") is reader
    (clip,) = open_clips(tmp_path / "clip.u8frames")
    np.testing.assert_array_equal(clip.read(2, 9)[:, 0], frames[2:9])
    dm = ArraysDataModule(str(tmp_path / "clip.u8frames"), input_length=2, total_length=4, batch_size=1,
                          num_workers=0, val_fraction=0.25, test_fraction=0.25)  # fmt: skip
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (1, 4, 1, 16, 16) and str(batch.dtype) == "torch.uint8"


def test_without_the_module_the_suffix_is_unknown(tmp_path):
    (tmp_path / "clip.u8frames").write_bytes(b"1 2 2\n\0\0\0\0")
    assert not any(m.endswith("u8frames") for m in registry.reader_modules())
    with pytest.raises(DataError, match=r"has an unknown type \(.u8frames\)"):
        open_clips(tmp_path / "clip.u8frames")


# --- CF packing is never read raw --------------------------------------------------------------
def write_refused(folder: Path) -> dict[str, tuple[str, str]]:
    """{name: (data.path, data.key)}: every way a packed or filled variable reaches data=arrays."""
    import h5py
    import zarr

    ints = np.random.default_rng(2).integers(0, 3000, (12, 16, 16)).astype(np.int16)
    with h5py.File(folder / "h5py_packed.h5", "w") as f:
        f["x"] = ints
        f["x"].attrs["scale_factor"] = np.float32(0.5)
        f["x"].attrs["_FillValue"] = np.int16(-1)
    with h5py.File(folder / "h5py_range.h5", "w") as f:
        f["x"] = ints
        f["x"].attrs["valid_range"] = np.array([0, 2500], np.int16)
    with h5py.File(folder / "h5py_missing.h5", "w") as f:
        f["x"] = ints.astype(np.float32)
        f["x"].attrs["missing_value"] = np.float32(-999.0)
    dataset().to_netcdf(folder / "packed.nc", encoding=PACKED)  # netCDF-4 through netCDF4
    dataset().to_netcdf(folder / "packed_h5netcdf.nc", engine="h5netcdf", encoding=PACKED)
    dataset().to_netcdf(folder / "classic.nc", engine="scipy", encoding=PACKED)  # netCDF-3
    dataset().to_zarr(folder / "packed_v2.zarr", encoding=PACKED, zarr_format=2, consolidated=False)
    dataset().to_zarr(folder / "packed_v3.zarr", encoding=PACKED, zarr_format=3, consolidated=False)
    fill_only = {"t2m": {"dtype": "int16", "_FillValue": -32767}}  # Zarr v2 keeps it as the array's fill value
    dataset(ints).to_zarr(folder / "filled_v2.zarr", encoding=fill_only, zarr_format=2, consolidated=False)
    group = zarr.open_group(str(folder / "unsigned.zarr"), mode="w")
    group.create_array("x", data=ints.astype(np.int8), attributes={"_Unsigned": "true"})
    return {"h5py_packed": ("h5py_packed.h5", "x"), "h5py_range": ("h5py_range.h5", "x"),
            "h5py_missing": ("h5py_missing.h5", "x"), "netcdf4": ("packed.nc", "t2m"),
            "h5netcdf": ("packed_h5netcdf.nc", "t2m"), "netcdf3": ("classic.nc", "t2m"),
            "zarr_v2": ("packed_v2.zarr", "t2m"), "zarr_v3": ("packed_v3.zarr", "t2m"),
            "zarr_v2_fill": ("filled_v2.zarr", "t2m"), "zarr_unsigned": ("unsigned.zarr", "x")}  # fmt: skip


@pytest.fixture(scope="module")
def refused(tmp_path_factory) -> tuple[Path, dict[str, tuple[str, str]]]:
    folder = tmp_path_factory.mktemp("cf")
    return folder, write_refused(folder)


PACKED_ATTRS = "(scale_factor=0.01, add_offset=273.15, _FillValue=-32767)"
REFUSALS = {
    "h5py_packed": "variable x carries CF packing/fill attributes (scale_factor=0.5, _FillValue=-1): " + CF_HINT,
    "h5py_range": "variable x carries CF packing/fill attributes (valid_range=[0, 2500]): " + CF_HINT,
    "h5py_missing": "variable x carries CF packing/fill attributes (missing_value=-999): " + CF_HINT,
    "netcdf4": f"variable t2m carries CF packing/fill attributes {PACKED_ATTRS}: {CF_HINT}",
    "h5netcdf": f"variable t2m carries CF packing/fill attributes {PACKED_ATTRS}: {CF_HINT}",
    "netcdf3": "is a netCDF-3 file, which data=arrays does not read: read it with data=xarray",
    "zarr_v2": f"variable t2m carries CF packing/fill attributes {PACKED_ATTRS}: {CF_HINT}",
    "zarr_v3": f"variable t2m carries CF packing/fill attributes {PACKED_ATTRS}: {CF_HINT}",
    "zarr_v2_fill": "variable t2m carries CF packing/fill attributes (_FillValue=-32767): " + CF_HINT,
    "zarr_unsigned": "variable x carries CF packing/fill attributes (_Unsigned=true): " + CF_HINT,
}
ARRAYS = ("predrnn-train", "trainer=cpu", "logger=csv", "model.hidden_channels=[4]", "data=arrays", "data.layout=THW",
          "data.input_length=2", "data.total_length=4", "data.batch_size=1", "data.num_workers=0")  # fmt: skip


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_cf_packing_is_refused_in_one_line_and_nothing_trains(name, refused, monkeypatch, capsys):
    folder, files = refused
    path, key = files[name]
    code, err = run_main([*ARRAYS, f"data.path={path}", f"data.key={key}"], folder, monkeypatch, capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0] == f"predrnn-train: error: data.path={path} {REFUSALS[name]}" or (
        name == "netcdf3" and err[0].startswith(f"predrnn-train: error: data.path={path} {REFUSALS[name]}")
    ), err[0]
    assert not list((folder / "logs").glob("*/runs/*")), "a refused run left its folder behind"


def test_the_refusal_names_the_key_that_gave_the_path_and_covers_actions(refused, tmp_path):
    import h5py

    folder, _ = refused
    with pytest.raises(DataError, match=r"^input=\S+packed.nc variable t2m carries CF packing"):
        open_clips(folder / "packed.nc", key="t2m", layout="THW", path_key="input")  # predrnn-predict's input
    with h5py.File(tmp_path / "actions.h5", "w") as f:
        f["frames"] = np.zeros((2, 6, 8, 8), np.uint8)
        f["actions"] = np.zeros((2, 6, 3), np.int16)
        f["actions"].attrs["scale_factor"] = 0.1
    with pytest.raises(DataError, match="variable actions carries CF packing/fill attributes \\(scale_factor=0.1\\)"):
        open_clips(tmp_path / "actions.h5", key="frames", actions_key="actions")


def test_unpacked_cf_files_are_read_as_xarray_decodes_them(tmp_path):
    """xarray gives float variables a NaN _FillValue: decoding changes nothing, so data=arrays
    reads them, and its values are xarray's decoded values."""
    import xarray as xr

    dataset().to_netcdf(tmp_path / "plain.nc")
    dataset().to_zarr(tmp_path / "plain_v2.zarr", zarr_format=2, consolidated=False)
    dataset().to_zarr(tmp_path / "plain_v3.zarr", zarr_format=3, consolidated=False)
    zarr = {"engine": "zarr", "consolidated": False}
    for name, how in (("plain.nc", {}), ("plain_v2.zarr", zarr), ("plain_v3.zarr", zarr)):
        with xr.open_dataset(tmp_path / name, **how) as ds:
            want = ds.t2m.values
        (clip,) = open_clips(tmp_path / name, key="t2m", layout="THW")
        assert clip.source.dtype == np.float32
        np.testing.assert_array_equal(clip.read(0, 12)[:, 0], want)


# --- frames that are not what they seem: kept at their depth, or refused in one line --------
def _png16(path: Path, frame: np.ndarray) -> bool:
    """`frame` (H, W) or (H, W, 3) as a 16-bit PNG (Pillow can't write 16-bit colour); True."""
    import struct
    import zlib

    frame = np.asarray(frame, dtype=">u2")
    rows = b"".join(b"\x00" + row.tobytes() for row in frame)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", frame.shape[1], frame.shape[0], 16, 0 if frame.ndim == 2 else 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )
    return True


def _encoded(frame: np.ndarray, fmt: str = "PNG") -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(frame).save(out, format=fmt)
    return out.getvalue()


def _bomb_png(side: int = 30_000) -> bytes:
    """A PNG whose header claims side x side pixels (900 M: a decompression bomb) over a few bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _frames(folder: Path, count: int = 4, write=None) -> Path:
    """A frame folder of `count` 8-bit grey 16 x 16 PNGs (`write(path, j)` for other ones)."""
    import imageio.v3 as iio

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for j in range(count):
        path = folder / f"frame{j}.png"
        if write is None or not write(path, j):
            iio.imwrite(path, rng.integers(0, 256, (16, 16), dtype=np.uint8))
    return folder


def _bair(path: Path, records: int = 2, frames: int = 3, encode=None) -> Path:
    """A BAIR-like TFRecord file of 64 x 64 RGB frames (raw bytes, or `encode(record, j, frame)`)."""
    from tfrecord.writer import TFRecordWriter

    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = TFRecordWriter(str(path))
    for r in range(records):
        example = {}
        for j in range(frames):
            frame = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            data = frame.tobytes() if encode is None else encode(r, j, frame)
            example[f"{j}/image_aux1/encoded"] = (data, "byte")
        writer.write(example)
    writer.close()
    return path


def _corrupt_record(path: Path, record: int) -> Path:
    """One byte of record `record`'s data changed (its CRC no longer matches): what a bad disk does."""
    from predrnn.data.readers.bair import scan_records

    offset, length = scan_records(path)[record]
    data = bytearray(path.read_bytes())
    data[offset + length // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _link_out(folder: Path) -> Path:
    _frames(folder.parent / "elsewhere", 1)
    _frames(folder, 3)
    (folder / "frame3.png").symlink_to(folder.parent / "elsewhere" / "frame0.png")
    return folder


def _truncated_jpeg(keep: float):
    """Frame folder writer: JPEGs, the third cut to `keep` of its bytes (in its header, or its data)."""

    def write(path: Path, j: int) -> bool:
        data = _encoded(np.random.default_rng(j).integers(0, 256, (16, 16), dtype=np.uint8), "JPEG")
        path.with_suffix(".jpg").write_bytes(data[: int(len(data) * keep)] if j == 2 else data)
        return True

    return write


def _bomb_frame(r: int, j: int, frame: np.ndarray) -> bytes:
    return _bomb_png(10_000) if (r, j) == (1, 1) else _encoded(frame)  # under Pillow's own limit


def _broken_frame(at: tuple[int, int]):
    def encode(r: int, j: int, frame: np.ndarray) -> bytes:
        data = _encoded(frame)
        return data[: len(data) // 2] if (r, j) == at else data

    return encode


# (the data, where it fails: "open" or "read" (a window of clip 1), what the one line says)
BAD_FRAMES = {
    "16-bit colour PNG": (
        lambda d: _frames(d / "f", 4, lambda p, j: _png16(p, np.full((16, 16, 3), 40000 + j))),
        "open",
        "is 16-bit colour (RGB), which is read only as 8 bits",
    ),
    "16-bit colour beside 8-bit": (
        lambda d: _frames(d / "f", 4, lambda p, j: j == 3 and _png16(p, np.ones((16, 16, 3)))),
        "open",
        "frame3.png is 16-bit colour",
    ),
    "8-bit and 16-bit grey mixed": (
        lambda d: _frames(d / "f", 4, lambda p, j: j == 2 and _png16(p, np.ones((16, 16)))),
        "open",
        "mixes bit depths (frame0.png is uint8, frame2.png is uint16)",
    ),
    "link out of the folder": (lambda d: _link_out(d / "f"), "open", "outside the folder"),
    "decompression bomb": (
        lambda d: _frames(d / "f", 3, lambda p, j: j == 1 and p.write_bytes(_bomb_png())),
        "open",
        "frame1.png can't be read (Image size (900000000 pixels) exceeds limit",
    ),
    "JPEG cut in its header": (lambda d: _frames(d / "f", 4, _truncated_jpeg(0.3)), "open", "frame2.jpg can't be read"),
    "JPEG cut in its data": (
        lambda d: _frames(d / "f", 4, _truncated_jpeg(0.9)),
        "read",
        "frame2.jpg can't be decoded",
    ),
    "BAIR record 0 corrupt": (
        lambda d: _corrupt_record(_bair(d / "t.tfrecords"), 0),
        "open",
        "record 0 of",
    ),
    "BAIR record 1 corrupt": (
        lambda d: _corrupt_record(_bair(d / "t.tfrecords"), 1),
        "read",
        "t.tfrecords fails its CRC check (its bytes are corrupt): download the file again",
    ),
    "BAIR frame undecodable at open": (
        lambda d: _bair(d / "t.tfrecords", encode=_broken_frame((0, 0))),
        "open",
        "record 0 of",
    ),
    "BAIR frame undecodable": (
        lambda d: _bair(d / "t.tfrecords", encode=_broken_frame((1, 2))),
        "read",
        "frame 2 (image_aux1) can't be decoded",
    ),
    "BAIR decompression bomb": (
        lambda d: _bair(d / "t.tfrecords", encode=_bomb_frame),
        "read",
        "frame 1 (image_aux1) is 10000x10000, the first frame 64x64",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_frames_that_are_not_what_they_seem_are_one_line(name, tmp_path):
    make, where, message = BAD_FRAMES[name]
    if name.startswith("BAIR") and importlib.util.find_spec("tfrecord") is None:
        pytest.skip("needs the tfrecord package")
    path = make(tmp_path)
    if where == "open":
        with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
            open_clips(path)
    else:
        clips = open_clips(path)
        with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
            clips[-1].read(0, clips[-1].length)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    if name.startswith("BAIR") and where == "open":
        assert "fails its CRC check" in str(caught.value) or "can't be decoded" in str(caught.value)


def test_16_bit_grey_frames_keep_their_values(tmp_path):
    """16-bit grey PNGs are read as stored (uint16, float data in their units), not cut to {0, 255}."""
    values = (np.arange(4 * 16 * 16).reshape(4, 16, 16) * 60).astype(np.uint16)
    folder = _frames(tmp_path / "f", 4, lambda p, j: _png16(p, values[j]))
    (clip,) = open_clips(folder)
    assert clip.source.dtype == np.uint16 and clip.source.frame_shape == (1, 16, 16)
    np.testing.assert_array_equal(clip.read(0, 4)[:, 0], values)


def test_a_corrupt_record_met_in_training_is_one_line(tmp_path, monkeypatch, capsys):
    """A BAIR record whose CRC fails, met by a loader worker mid-training: one line naming it, exit 2."""
    if importlib.util.find_spec("tfrecord") is None:
        pytest.skip("needs the tfrecord package")
    for name in ("a", "b"):
        _bair(tmp_path / "data" / f"{name}.tfrecords", records=3, frames=8)
    _corrupt_record(tmp_path / "data" / "b.tfrecords", 2)
    argv = ["predrnn-train", "trainer=cpu", "logger=csv", "data=arrays", "data.path=data", "model.hidden_channels=[4]",
            "model.patch_size=4", "data.input_length=4", "data.total_length=8", "data.batch_size=2",
            "data.num_workers=1", "data.val_fraction=0.4", "trainer.max_steps=4", "test=false", "callbacks.media=null"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("predrnn-train: error: data.path: record 2 of ") and "fails its CRC check" in err[0]
