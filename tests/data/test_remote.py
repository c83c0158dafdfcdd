"""Remote archives (docs/data.md, "Remote stores"): netCDF-4, netCDF-3 and Zarr (v2, v3,
consolidated or not) read through fsspec from a real S3 server (moto) and a real HTTP server on
127.0.0.1 give the values of the local files, CF-decoded and lazily; remote folders and globs
list their files in order; every failure is one line naming the URL (never a secret) and the
fix; forked loader workers read windows."""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from helpers import run_main
from predrnn.data.remote import expand, is_url, open_dataset, redact
from predrnn.data.xarray_source import open_series
from predrnn.errors import DataError
from servers import FolderServer, free_port, http_server, s3_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:Consolidated metadata is currently not part")
TIMES = pd.date_range("2020-01-01", periods=12, freq="5min")
# packed as int16 × 0.5 with a fill value: values are multiples of 0.5, so decoding is exact
PACKED = {"dbz": {"dtype": "int16", "scale_factor": 0.5, "add_offset": 0.0, "_FillValue": -32768}}
SERIES = ("2020-01-01T00-00.nc", "2020-01-01T00-20.nc", "2020-01-01T00-40.nc")  # 4 times each


def radar_scans(count: int) -> xr.Dataset:
    """`count` radar frames of 16 × 16, 5 minutes apart from 2020-01-01, on a projected grid:
    dBZ in multiples of 0.5, two pixels without data (frames 2 and 9)."""
    rng = np.random.default_rng(25)
    dbz = (np.round(rng.uniform(-10, 60, (count, 16, 16)) * 2) / 2).astype(np.float32)
    dbz[2, 3, 4] = dbz[9, 0, 0] = np.nan
    coords = {"time": pd.date_range("2020-01-01", periods=count, freq="5min"),
              "y": ("y", np.arange(16) * 1000.0, {"axis": "Y", "units": "m"}),
              "x": ("x", np.arange(16) * 1000.0, {"axis": "X", "units": "m"})}  # fmt: skip
    return xr.Dataset({"dbz": (("time", "y", "x"), dbz, {"units": "dBZ", "long_name": "reflectivity"})}, coords)


@pytest.fixture(scope="module")
def radar() -> xr.Dataset:
    return radar_scans(len(TIMES))


@pytest.fixture(scope="module")
def local(radar, tmp_path_factory) -> Path:
    """The archive as local files: netCDF-4, netCDF-3, Zarr v2 and v3, a series of three
    netCDF files, and files that are not data."""
    folder = tmp_path_factory.mktemp("local")
    radar.to_netcdf(folder / "radar.nc", engine="netcdf4", format="NETCDF4", encoding=PACKED)
    radar.to_netcdf(folder / "radar3.nc", engine="scipy", format="NETCDF3_64BIT", encoding=PACKED)
    radar.to_zarr(folder / "radar.zarr", zarr_format=2, encoding=PACKED, consolidated=True)
    radar.to_zarr(folder / "radar_v3_plain.zarr", zarr_format=3, encoding=PACKED, consolidated=False)
    (folder / "series").mkdir()
    for i, name in enumerate(SERIES):
        radar.isel(time=slice(4 * i, 4 * i + 4)).to_netcdf(folder / "series" / name, engine="netcdf4", encoding=PACKED)
    (folder / "series" / "notes.txt").write_text("not data\n")
    (folder / "fake.nc").write_text("hello, not a netCDF file\n")
    (folder / "docs").mkdir()
    (folder / "docs" / "readme.txt").write_text("no data here\n")
    (folder / "notdata.zarr").mkdir()
    (folder / "notdata.zarr" / "readme.txt").write_text("a folder named .zarr\n")
    big = np.random.default_rng(1).random((24, 256, 256)).astype(np.float32)  # 6 MiB: more than a 5 MiB block
    xr.Dataset({"dbz": (("time", "y", "x"), big)}).to_netcdf(folder / "big.nc", engine="netcdf4")
    return folder


@pytest.fixture(scope="module")
def web(local, http_server):  # noqa: F811 (the fixture)
    """The local files served over HTTP (with Range requests)."""
    shutil.copytree(local, http_server.folder, dirs_exist_ok=True)
    return http_server


@pytest.fixture(scope="module")
def bucket(radar, local, s3_server, tmp_path_factory):  # noqa: F811
    """The archive in the S3 bucket `radar`: a consolidated Zarr v3 store written straight to
    s3:// as a user would; Zarr v2 and v3, consolidated or not, one store without the .zarr
    suffix, the netCDF files and a series of three uploaded (the same files, faster)."""
    radar.to_zarr("s3://radar/radar_v3.zarr", zarr_format=3, encoding=PACKED, storage_options=s3_server.options())
    fs = s3_server.filesystem()
    staging = tmp_path_factory.mktemp("staging")
    for name, zarr_format, consolidated in (("radar.zarr", 2, True), ("radar_v2_plain.zarr", 2, False),
                                            ("radar_v3_plain.zarr", 3, False), ("store", 3, True)):  # fmt: skip
        radar.to_zarr(staging / name, zarr_format=zarr_format, consolidated=consolidated, encoding=PACKED)
        fs.put(str(staging / name), f"radar/{name}", recursive=True)
    fs.put(str(local / "radar.nc"), "radar/radar.nc")
    fs.put(str(local / "radar3.nc"), "radar/radar3.nc")
    for name in (*SERIES, "notes.txt"):
        fs.put(str(local / "series" / name), f"radar/series/{name}")
    fs.put(str(local / "fake.nc"), "radar/fake.nc")
    return s3_server


def test_urls_and_redaction():
    assert is_url("s3://b/radar.zarr") and is_url("https://h/x.nc") and is_url("simplecache::s3://b/x.nc")
    assert not any(is_url(p) for p in ("radar.nc", "/data/radar.zarr", "C:\\data\\radar.nc", "data/s3:x"))
    assert (
        redact("https://ann:hunter2@h.org:8080/a/radar.nc?sig=abc&v=1#frag")
        == "https://***@h.org:8080/a/radar.nc?sig=***&v=***"
    )
    assert redact("simplecache::s3://b/x.zarr") == "simplecache::s3://b/x.zarr"
    assert redact("s3://b/x.zarr") == "s3://b/x.zarr"


# (name, where it is, the local file it copies, the storage options: "s3" for the test key)
STORES = [("nc4-http", "web", "radar.nc", None), ("nc4-http-query", "web", "radar.nc?version=2", None),
          ("nc3-http", "web", "radar3.nc", None),
          ("zarr2-http", "web", "radar.zarr", None), ("zarr3-plain-http", "web", "radar_v3_plain.zarr", None),
          ("nc4-s3", "bucket", "radar.nc", "s3"), ("nc3-s3", "bucket", "radar3.nc", "s3"),
          ("zarr2-s3", "bucket", "radar.zarr", "s3"), ("zarr2-plain-s3", "bucket", "radar_v2_plain.zarr", "s3"),
          ("zarr3-s3", "bucket", "radar_v3.zarr", "s3"), ("zarr3-plain-s3", "bucket", "radar_v3_plain.zarr", "s3"),
          ("zarr3-no-suffix-s3", "bucket", "store", "s3")]  # fmt: skip


def _location(request, where: str, name: str, options):
    if where == "web":
        return f"{request.getfixturevalue('web').url}/{name}", None
    server = request.getfixturevalue("bucket")
    return f"s3://radar/{name}", server.options() if options == "s3" else options


@pytest.mark.parametrize(("case", "where", "name", "options"), STORES, ids=[s[0] for s in STORES])
def test_remote_gives_the_local_values(case, where, name, options, request, radar, local):
    url, storage_options = _location(request, where, name, options)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning (consolidated or not is found out)
        ds = open_dataset(url, storage_options, "data.path")
    variable = ds["dbz"].variable
    assert not variable._in_memory and variable.chunks is None  # lazy, no dask
    assert ds["dbz"].dtype.kind == "f" and ds["dbz"].attrs["units"] == "dBZ"
    assert ds["time"].dtype == np.dtype("datetime64[ns]") and (ds["time"].values == TIMES.values).all()
    window = ds["dbz"].isel(time=slice(1, 5)).values  # what a loader reads
    np.testing.assert_array_equal(window, radar["dbz"].values[1:5])  # NaN where the fill value was
    stem = name.split("?")[0]
    reference = stem if (local / stem).exists() else "radar_v3_plain.zarr"  # `store` is a copy of it
    zarr = {"engine": "zarr", "consolidated": False} if "zarr" in reference else {}
    with xr.open_dataset(local / reference, **zarr) as mine:
        np.testing.assert_array_equal(ds["dbz"].values, mine["dbz"].values)
        np.testing.assert_array_equal(ds["y"].values, mine["y"].values)
    assert ds["y"].attrs["axis"] == "Y"
    ds.close()


def test_a_window_of_a_big_remote_netcdf_file_downloads_only_its_blocks(web, local):
    """6 MiB over HTTP with Range requests in 64 KiB blocks: opening it and reading one 256 KiB
    frame downloads the header and that frame's blocks, not the file (Python's own static
    server answers every GET with the whole file: the `http-no-range` error below)."""
    before = web.sent
    ds = open_dataset(f"{web.url}/big.nc", {"block_size": 65536}, "data.path")
    frame = ds["dbz"].isel(time=7).values
    with xr.open_dataset(local / "big.nc") as mine:
        np.testing.assert_array_equal(frame, mine["dbz"].values[7])
    size = (local / "big.nc").stat().st_size
    assert 256 * 1024 < web.sent - before < size / 4
    ds.close()


def test_a_server_without_range_requests_is_read_through_a_downloaded_copy(servers, local):
    """What the `http-no-range` error proposes: simplecache:: downloads the file whole (one
    plain GET) and reads the copy."""
    ds = open_dataset(f"simplecache::{servers.plain.url}/big.nc", None, "data.path")
    with xr.open_dataset(local / "big.nc") as mine:
        np.testing.assert_array_equal(ds["dbz"].isel(time=3).values, mine["dbz"].values[3])
    ds.close()
    assert expand(f"simplecache::{servers.web.url}/series/*.nc", None, "data.path") == [
        f"simplecache::{servers.web.url}/series/{name}" for name in SERIES
    ]


def test_zarr_over_http_without_folder_listings_needs_consolidated_metadata(local, radar):
    """A web server that lists no folders serves a consolidated store; a store without
    consolidated metadata would open with no variables at all: an error that says why."""
    server = FolderServer(local, listings=False)
    try:
        ds = open_dataset(f"{server.url}/radar.zarr", None, "data.path")  # v2, consolidated
        np.testing.assert_array_equal(ds["dbz"].values, radar["dbz"].values)
        with pytest.raises(DataError, match=r"shows no variables: over HTTP a Zarr store without consolidated "
                           r"metadata needs a server that lists folders: consolidate it"):  # fmt: skip
            open_dataset(f"{server.url}/radar_v3_plain.zarr", None, "data.path")
    finally:
        server.stop()


def test_remote_folders_and_globs_list_their_files_in_order(web, bucket):
    s3 = bucket.options()
    want = [f"s3://radar/series/{n}" for n in SERIES]
    assert expand("s3://radar/series", s3, "data.path") == want
    assert expand("s3://radar/series/", s3, "data.path") == want
    assert expand("s3://radar/series/*.nc", s3, "data.path") == want
    assert expand("s3://radar/series/2020-01-01T00-[24]0.nc", s3, "data.path") == want[1:]
    web_want = [f"{web.url}/series/{n}" for n in SERIES]
    assert expand(f"{web.url}/series/", None, "data.path") == web_want
    assert expand(f"{web.url}/series/*.nc", None, "data.path") == web_want
    # a single file or store is itself; so is a Zarr store without the .zarr suffix
    assert expand("s3://radar/radar.nc", s3, "data.path") == ["s3://radar/radar.nc"]
    assert expand("s3://radar/store", s3, "data.path") == ["s3://radar/store"]
    assert expand(f"{web.url}/radar.zarr", None, "data.path") == [f"{web.url}/radar.zarr"]
    # the parts read back, in order, are the whole record
    parts = [open_dataset(url, s3, "data.path") for url in want]
    frames = np.concatenate([p["dbz"].values for p in parts])
    assert frames.shape == (12, 16, 16) and np.array_equal(np.isnan(frames).nonzero()[0], [2, 9])
    # a folder's netCDF files and Zarr stores (one level deep), sorted
    top = ["big.nc", "fake.nc", "notdata.zarr", "radar.nc", "radar.zarr", "radar3.nc", "radar_v3_plain.zarr"]
    assert expand(f"{web.url}/", None, "data.path") == [f"{web.url}/{n}" for n in top]
    with pytest.raises(DataError, match=r"docs/ holds no netCDF file .* \(it holds readme.txt\): give the folder"):
        expand(f"{web.url}/docs/", None, "data.path")
    with pytest.raises(DataError, match=r"matches no netCDF file"):
        expand("s3://radar/series/*.txt", s3, "data.path")


WRONG_SECRET = "wrong-secret-0123456789"
# (id, call, location(servers), storage options(servers) or None, what the message says);
# `servers` has .web (HTTP), .s3 (S3) and .plain (an HTTP server without Range requests)
ERRORS = [
    ("http-refused", "open", lambda s: f"http://127.0.0.1:{s.port}/radar.nc", None,
     ["cannot connect to 127.0.0.1:", "(connection refused): check the address"]),
    ("http-refused-folder", "expand", lambda s: f"http://127.0.0.1:{s.port}/series/", None,
     ["cannot connect to 127.0.0.1:", "connection refused"]),
    ("http-404", "open", lambda s: f"{s.web.url}/nope.nc", None, ["was not found (HTTP 404): check the address"]),
    ("http-404-zarr", "open", lambda s: f"{s.web.url}/nope.zarr", None, ["was not found (HTTP 404)"]),
    ("http-secrets-in-url", "open", lambda s: s.web.url.replace("//", "//reader:hunter2@") + "/nope.nc?token=tok3n",
     None, ["http://***@127.0.0.1:", "/nope.nc?token=*** was not found (HTTP 404)"]),
    ("http-not-netcdf", "open", lambda s: f"{s.web.url}/fake.nc", None,
     ["is neither a netCDF file", "nor a Zarr store (it starts with b'hello, n'): give a .nc file or a .zarr store"]),
    ("http-not-zarr", "open", lambda s: f"{s.web.url}/notdata.zarr", None,
     ["is not a Zarr store (it has no zarr.json or .zgroup)"]),
    ("http-no-range", "open", lambda s: f"{s.plain.url}/big.nc", None,
     ["the server ignores HTTP Range requests", "read a downloaded copy: data.path=simplecache::http://127.0.0.1:"]),
    ("zarr-cache-chain", "open", lambda s: f"simplecache::{s.web.url}/radar.zarr", None,
     ["a Zarr store is read chunk by chunk, without a cache chain: give its URL without simplecache::"]),
    ("s3-no-bucket", "open", lambda s: "s3://nobucket/radar.zarr", lambda s: s.s3.options(),
     ["there is no bucket 'nobucket' at http://127.0.0.1:", "check the bucket's name and data.storage_options'"]),
    ("s3-no-bucket-nc", "open", lambda s: "s3://nobucket/radar.nc", lambda s: s.s3.options(),
     ["there is no bucket 'nobucket'"]),
    ("s3-no-bucket-folder", "expand", lambda s: "s3://nobucket/series", lambda s: s.s3.options(),
     ["there is no bucket 'nobucket'"]),
    ("s3-no-object", "open", lambda s: "s3://radar/nope.nc", lambda s: s.s3.options(),
     ["does not exist: check the path (a glob such as s3://radar/* lists what is there)"]),
    ("s3-no-store", "open", lambda s: "s3://radar/nope.zarr", lambda s: s.s3.options(), ["does not exist"]),
    ("s3-not-netcdf", "open", lambda s: "s3://radar/fake.nc", lambda s: s.s3.options(), ["is neither a netCDF"]),
    ("s3-refused", "open", lambda s: "s3://radar/radar.zarr",
     lambda s: {**s.s3.options(), "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{s.port}"},
                "config_kwargs": {"retries": {"max_attempts": 1}}},  # botocore would retry for ~5 s first
     ["cannot connect to 127.0.0.1:", "check the address (and data.storage_options' client_kwargs.endpoint_url)"]),
    ("s3-no-credentials", "open", lambda s: "s3://radar/radar.zarr", lambda s: {"client_kwargs": s.s3.options()["client_kwargs"]},
     ["no credentials were found: give credentials in data.storage_options (key/secret) or the AWS_* environment, "
      "or anon: true for a public bucket"]),
    ("s3-no-credentials-nc", "open", lambda s: "s3://radar/radar.nc", lambda s: {"client_kwargs": s.s3.options()["client_kwargs"]},
     ["no credentials were found"]),
    ("s3-wrong-key", "open", lambda s: "s3://radar/radar.zarr", lambda s: {**s.s3.options(), "key": "AKIAWRONGKEY0000"},
     ["the credentials were refused", "give credentials in data.storage_options (key/secret)"]),
    ("s3-wrong-secret", "open", lambda s: "s3://radar/radar.zarr", lambda s: {**s.s3.options(), "secret": WRONG_SECRET},
     ["the credentials were refused"]),
    ("s3-wrong-secret-nc", "open", lambda s: "s3://radar/radar.nc", lambda s: {**s.s3.options(), "secret": WRONG_SECRET},
     ["the credentials were refused"]),
    ("s3-wrong-secret-glob", "expand", lambda s: "s3://radar/series/*.nc",
     lambda s: {**s.s3.options(), "secret": WRONG_SECRET}, ["the credentials were refused"]),
    ("s3-anonymous-private", "open", lambda s: "s3://radar/radar.nc",
     lambda s: {"anon": True, "client_kwargs": s.s3.options()["client_kwargs"]}, ["the credentials were refused"]),
    ("gs-without-gcsfs", "open", lambda s: "gs://bucket/radar.zarr", None,
     ["reading gs:// needs the package gcsfs: pip install gcsfs"]),
    ("az-without-adlfs", "open", lambda s: "az://container/radar.zarr", None,
     ["reading az:// needs the package adlfs: pip install adlfs"]),
    ("unknown-protocol", "open", lambda s: "nosuch://host/radar.nc", None, ["fsspec knows no protocol nosuch://"]),
]  # fmt: skip
MISSING = {"gs-without-gcsfs": "gcsfs", "az-without-adlfs": "adlfs"}


class Servers:
    def __init__(self, web, s3, plain, port):
        self.web, self.s3, self.plain, self.port = web, s3, plain, port


@pytest.fixture(scope="module")
def servers(web, bucket, local):
    plain = FolderServer(local, ranges=False)
    yield Servers(web, bucket, plain, free_port())
    plain.stop()


@pytest.mark.parametrize(("case", "call", "location", "options", "says"), ERRORS, ids=[e[0] for e in ERRORS])
def test_failures_are_one_line_with_the_fix_and_no_secret(case, call, location, options, says, servers, monkeypatch):
    if case in MISSING and importlib.util.find_spec(MISSING[case]):
        pytest.skip(f"{MISSING[case]} is installed")
    if "no-credentials" in case:
        import s3fs

        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        s3fs.S3FileSystem.clear_instance_cache()  # a cached filesystem keeps the key it was made with
    url = location(servers)
    with pytest.raises(DataError) as caught:
        (open_dataset if call == "open" else expand)(url, options(servers) if options else None, "data.path")
    message = str(caught.value)
    assert message.startswith(f"data.path={redact(url)}") and "\n" not in message, message
    for text in says:
        assert text in message, message
    for secret in (servers.s3.secret, WRONG_SECRET, "hunter2", "tok3n"):
        assert secret not in message


def _window_in_a_worker(item):
    """What a forked loader worker does: open the store in this process, read one window."""
    import os

    url, options, start = item
    ds = open_dataset(url, options, "data.path")
    try:
        return torch.from_numpy(ds["dbz"].isel(time=slice(start, start + 4)).values), os.getpid()
    finally:
        ds.close()


class _Windows(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return _window_in_a_worker(self.items[i])


def test_forked_loader_workers_read_remote_windows(web, bucket, radar):
    """The parent opens and reads first (its fsspec and zarr loops run), then 2 forked workers
    each open the stores themselves and read windows; a worker reading the parent's netCDF
    dataset gets an error instead of waiting forever for the parent's loop."""
    import multiprocessing

    stores = [(f"{web.url}/radar.nc", {"block_size": 512}), ("s3://radar/radar_v3.zarr", bucket.options()),
              ("s3://radar/radar.nc", bucket.options())]  # fmt: skip
    opened = [open_dataset(url, options, "data.path") for url, options in stores]
    assert all(np.isfinite(ds["dbz"].isel(time=0).values).all() for ds in opened)
    items = [(url, options, start) for url, options in stores for start in (0, 8)]
    loader = torch.utils.data.DataLoader(_Windows(items), batch_size=None, num_workers=2,
                                         multiprocessing_context="fork")  # fmt: skip
    got = list(loader)
    assert len({pid for _, pid in got}) == 2
    for (url, _, start), (window, _) in zip(items, got):
        np.testing.assert_array_equal(window.numpy(), radar["dbz"].values[start : start + 4], err_msg=url)
    context = multiprocessing.get_context("fork")  # the child gets the parent's dataset itself, not a copy
    answers = context.Queue()
    child = context.Process(target=_read_in_child, args=(opened[0], answers))
    child.start()
    error = answers.get(timeout=30)
    child.join(10)
    assert "was opened by process" in error and "open it in the process that reads it" in error
    for ds in opened:
        ds.close()


def _read_in_child(ds, answers) -> None:
    try:
        answers.put(f"read {ds['dbz'].isel(time=slice(4, 8)).values.shape}")
    except Exception as err:
        answers.put(f"{type(err).__name__}: {err}")


# ---- predrnn-train, -eval and -predict on remote archives ----------------------------------------

TINY = ["trainer=cpu", "logger=csv", "model.hidden_channels=[8]", "model.patch_size=2", "data.input_length=4",
        "data.total_length=8", "data.batch_size=2", "data.num_workers=0", "trainer.max_steps=2", "callbacks.media=null",
        "data.val_fraction=0.25", "data.test_fraction=0.25"]  # fmt: skip


@pytest.fixture(scope="module")
def archives(web, bucket, tmp_path_factory):
    """48 scans (4 hours) as a Zarr v3 store in the bucket and a netCDF-4 file on the web
    server (and in the bucket), and the 6 scans after them (what predict reads) beside each."""
    scans = radar_scans(54)
    archive, recent = scans.isel(time=slice(0, 48)), scans.isel(time=slice(48, 54))
    archive.to_zarr("s3://radar/archive.zarr", zarr_format=3, encoding=PACKED, storage_options=bucket.options())
    recent.to_zarr("s3://radar/recent.zarr", zarr_format=3, encoding=PACKED, storage_options=bucket.options())
    archive.to_netcdf(web.folder / "archive.nc", engine="netcdf4", encoding=PACKED)
    recent.to_netcdf(web.folder / "recent.nc", engine="netcdf4", encoding=PACKED)
    bucket.filesystem().put(str(web.folder / "archive.nc"), "radar/archive.nc")
    return scans


def test_data_xarray_reads_remote_windows_in_forked_loader_workers(archives, web, bucket):
    """XarrayDataModule on the S3 Zarr store and the HTTP netCDF file: 2 forked workers give the
    batches the main process reads (which opened the data first, to fit the normalisation)."""
    from predrnn.data.xarray_datamodule import XarrayDataModule

    settings = {"input_length": 4, "total_length": 8, "batch_size": 1, "val_fraction": 0.25, "test_fraction": 0.25}
    frames = archives["dbz"].values[:, None]
    for path, options in (("s3://radar/archive.zarr", bucket.options()), (f"{web.url}/archive.nc", None)):
        dm = XarrayDataModule(path, storage_options=options, num_workers=2, **settings)
        in_workers = torch.cat(list(dm.train_dataloader()))
        dm.hparams.num_workers = 0
        here = torch.cat(list(dm.train_dataloader()))
        assert in_workers.shape == (3, 8, 1, 16, 16), path
        assert torch.equal(in_workers.isnan(), here.isnan()) and torch.equal(in_workers.nan_to_num(), here.nan_to_num())
        starts = {s for w in here.numpy() for s in (0, 8, 16) if np.array_equal(w, frames[s : s + 8], equal_nan=True)}
        assert starts == {0, 8, 16}, path  # the 3 training windows of the first 24 scans, in data units


@pytest.mark.parametrize("kind", ["http-netcdf", "s3-netcdf"])
def test_a_forked_worker_leaves_the_parents_connections_working(kind, archives, web, bucket):
    """A loader worker is a fork: it starts with copies of the parent's filesystems, datasets
    and event loops, and the loops' epoll sets are shared with the parent. A worker that opens
    its own and lets the inherited ones be collected closes them (fsspec's finalizers): the
    parent's pooled connections leave the parent's epoll set, and the parent's next read waits
    for an answer that sits unread in its socket (for aiohttp's 300 s). So a worker keeps what
    it inherited (docs/data.md, "Remote stores"). Here the parent reads on after such a worker
    ended, with a short timeout instead of aiohttp's and no retries."""
    import multiprocessing

    import fsspec

    timeout = 15
    if kind == "http-netcdf":
        url, options = f"{web.url}/archive.nc", {"client_kwargs": {"timeout": _aiohttp_timeout(timeout)}}
    else:
        url = "s3://radar/archive.nc"
        options = bucket.options(config_kwargs={"read_timeout": timeout, "retries": {"max_attempts": 1}})
    frames = archives["dbz"].values[:, None]
    series = open_series(url, storage_options=options)
    np.testing.assert_array_equal(series.read(0, 4), frames[0:4])  # the parent's connections are pooled now
    child = multiprocessing.get_context("fork").Process(target=_read_and_collect, args=(series, url, options))
    child.start()
    child.join(60)
    assert child.exitcode == 0, child.exitcode
    np.testing.assert_array_equal(series.read(32, 36), frames[32:36])  # the parent's own handles
    fs, path = fsspec.core.url_to_fs(url, **options)  # fsspec's cached filesystem, with its pooled connections
    assert fs.cat_file(path, start=0, end=8) == b"\x89HDF\r\n\x1a\n"  # a range read: no fallback, no retry
    again = open_series(url, storage_options=options)
    np.testing.assert_array_equal(again.read(40, 44), frames[40:44])


def _aiohttp_timeout(seconds: float):
    import aiohttp

    return aiohttp.ClientTimeout(total=seconds)


def _read_and_collect(series, url, options) -> None:
    """What a loader worker does: read (opening its own handles), open anew, collect garbage."""
    import gc
    import os

    series.read(16, 20)
    open_series(url, storage_options=options).read(20, 24)
    gc.collect()
    os._exit(0)  # as torch's workers end: no interpreter shutdown


def _storage_override(server) -> str:
    """`data.storage_options=…` with the test key, as a user types it (Hydra's mapping syntax)."""
    return (
        f"data.storage_options={{key: '{server.key}', secret: '{server.secret}', "
        f"client_kwargs: {{endpoint_url: '{server.endpoint}'}}}}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["s3-zarr", "http-netcdf"])
def test_train_eval_predict_on_a_remote_archive(kind, archives, web, bucket, tmp_path, monkeypatch, capsys):
    if kind == "s3-zarr":
        data = ["data=xarray", "data.path=s3://radar/archive.zarr", _storage_override(bucket)]
        recent = "s3://radar/recent.zarr"
    else:
        data = ["data=xarray", f"data.path={web.url}/archive.nc"]
        recent = f"{web.url}/recent.nc"
    code, train_err, train_out = run_main(["predrnn-train", *data, *TINY], tmp_path, monkeypatch, capsys, stdout=True)
    assert code == 0, train_err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert np.isfinite(json.loads((run_dir / "metrics.json").read_text())["mse"])
    code, err = run_main(["predrnn-eval", f"ckpt_path={ckpt}", *data, *TINY[:2], *TINY[4:8], *TINY[10:]],
                         tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    code, err = run_main(["predrnn-predict", f"ckpt_path={ckpt}", f"input={recent}", "output=forecast.nc",
                          "num_predictions=3", *data[2:]], tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    with xr.open_dataset(tmp_path / "forecast.nc") as forecast:
        assert forecast["dbz"].shape == (1, 3, 16, 16)
        issued = forecast["forecast_reference_time"].values[0]
        assert issued == archives["time"].values[-1]  # the last scan of the recent ones
    if kind != "s3-zarr":
        return
    # credentials typed on the command line: never in a checkpoint, a printed line or a summary
    printed = "\n".join([*train_err, train_out])
    assert bucket.secret not in printed
    secret = bucket.secret.encode()
    holding = sorted(
        str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() and secret in p.read_bytes()
    )
    assert holding == []  # nor in the run's record of its configuration (Hydra's .hydra/, the logger's)
    (config,) = (tmp_path / "logs" / "train" / "runs").glob("*/.hydra/config.yaml")
    assert "secret: REDACTED" in config.read_text()  # scrubbed, not dropped: the record says one was given
