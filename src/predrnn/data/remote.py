"""Archives where they live: object storage (`s3://`, `gs://`, `az://`) and HTTP(S), read through
fsspec with `data.storage_options` (docs/data.md, "Remote stores").

- `is_url(path)`: whether `data.path` names a remote location (`scheme://…`, or a chain such as
  `simplecache::s3://…`).
- `redact(url)`: the URL for messages: `user:password@` and every query value replaced by `***`.
- `expand(location, storage_options, path_key)`: a remote folder or glob → its netCDF files and
  Zarr stores, sorted; a single file or store → `[location]`.
- `open_dataset(location, storage_options, path_key)`: one remote netCDF file (netCDF-4 through
  h5netcdf on an fsspec file object, netCDF-3 through scipy) or Zarr store (v2 or v3,
  consolidated or not), lazy (no dask, no cache: only what is indexed is read) and CF-decoded.
- `keep_inherited(handles)`: in a forked child, hold the parent's handles for good (below).

Every failure is a one-line `DataError` naming the URL (redacted) and the fix: an unknown
protocol or its missing package, an unreachable host, a missing bucket / object / page,
missing or rejected credentials, a server without Range requests, data that is neither
netCDF nor Zarr. Neither the URL's secrets nor `storage_options`' are ever echoed.

Forked loader workers (what was found, and checked by tests/data/test_remote.py): in a forked
child fsspec resets its event loop and empties its cache of filesystems, and zarr resets its own
loop, so `open_dataset` called in the child builds a new filesystem on a new loop and works,
whatever the parent opened and read before (a 2-worker DataLoader reads windows of an S3 Zarr
store, an S3 netCDF file and an HTTP netCDF file). A dataset opened in the parent is not usable
in the child: its Zarr arrays fail there (aiohttp's session belongs to the parent's loop), and
a netCDF file object would wait forever for the parent's loop, which is why it is wrapped to
raise instead (`_ProcessBound`). So each process opens its own (the series reader reopens per
pid).

And a child never closes what it inherited. Its copies of the parent's event loops share the
parent's epoll sets (a fork copies the epoll descriptor, not the set), so a filesystem that the
child lets go of closes the parent's pooled connections out of the parent's epoll set (fsspec's
finalizer closes its session's connector, and closing a connection unregisters its socket):
the parent's next read through such a connection waits for an answer that arrives but is never
read, until aiohttp's 300 s timeout. So every filesystem made here is remembered (weakly), and
a forked child keeps the parent's (`_keep_the_parents_filesystems`); the series reader keeps the
parent's datasets in the child the same way.
"""

from __future__ import annotations

import io
import json
import os
import re
import weakref
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

from predrnn.errors import DataError
from predrnn.extras import require

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")
ZARR_SUFFIX = ".zarr"
# the package that gives fsspec each protocol (what to pip install when it is missing)
PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
            "abfss": "adlfs", "adl": "adlfs", "http": "aiohttp", "https": "aiohttp"}  # fmt: skip
_OBJECT_STORES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")
# where each kind of store takes its credentials
_CREDENTIALS = {
    "s3": "give credentials in data.storage_options (key/secret) or the AWS_* environment, "
    "or anon: true for a public bucket",
    "gs": "give credentials in data.storage_options (token: a service-account JSON file) or "
    "GOOGLE_APPLICATION_CREDENTIALS, or token: anon for a public bucket",
    "az": "give credentials in data.storage_options (account_name with account_key or sas_token) or the "
    "AZURE_STORAGE_* environment, or anon: true for a public container",
    "http": "give the server's credentials in data.storage_options (e.g. headers: {Authorization: ...})",
}
_SECRET_NAME = re.compile(r"key|secret|token|pass|pwd|credential|sig|auth|sas", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"[A-Za-z][\w+.-]*://[^\s'\"<>()\[\]]+")
_MAGIC_NETCDF3 = b"CDF"
_MAGIC_HDF5 = b"\x89HDF\r\n\x1a\n"

# the filesystems made in this process, and in a forked child the parent's, kept (see the module)
_MADE: weakref.WeakSet = weakref.WeakSet()
_INHERITED: list = []


def keep_inherited(handles) -> None:
    """In a forked child: hold the parent's `handles` (filesystems, datasets) for the child's
    lifetime, never closed or collected here (the module docstring says why)."""
    _INHERITED.append(handles)


def _keep_the_parents_filesystems() -> None:
    keep_inherited(list(_MADE))


os.register_at_fork(after_in_child=_keep_the_parents_filesystems)


def is_url(path) -> bool:
    """Whether `path` (a str or path) is a remote location fsspec opens: `scheme://…` or a chain
    `a::b://…`; plain and Windows paths are not."""
    return isinstance(path, str) and re.match(r"[A-Za-z][\w+.-]*(::[A-Za-z][\w+.-]*)*://", path) is not None


def redact(url: str) -> str:
    """`url` without its secrets, for messages: the user info (`user:password@`) becomes `***@`,
    every query value `***`, the fragment is dropped; each link of a `::` chain likewise."""
    return "::".join(_redact_one(part) for part in str(url).split("::"))


def _redact_one(url: str) -> str:
    if "://" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc if "@" not in parts.netloc else "***@" + parts.netloc.rsplit("@", 1)[1]
    query = "&".join(f"{item.split('=', 1)[0]}=***" for item in parts.query.split("&") if item)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def expand(location: str, storage_options: Mapping | None, path_key: str) -> list[str]:
    """The netCDF files and Zarr stores `location` names, as sorted URLs: those a glob matches
    (`s3://b/radar/2019-*.nc`), those in a folder (one level deep), or `[location]` for a single
    file or store. Raises DataError when nothing is there or it can't be reached."""
    where = _Where(location, storage_options, path_key)
    fs, path = where.filesystem()
    if any(c in _without_query(path) for c in "*?["):
        found = where.attempt(lambda: fs.glob(path.rstrip("/")))
        return where.listed(fs, found, "matches")
    if _is_zarr_name(path) or _is_netcdf_name(path):
        return [location]
    if not where.attempt(lambda: _is_folder(fs, path)):
        return [location]
    entries = where.attempt(lambda: fs.ls(path, detail=False))
    if any(_name(entry) in ("zarr.json", ".zgroup") for entry in entries):
        return [location]  # a Zarr store whose name doesn't end in .zarr
    return where.listed(fs, entries, "holds")


def open_dataset(location: str, storage_options: Mapping | None, path_key: str):
    """One remote netCDF file or Zarr store as a lazy, CF-decoded `xarray.Dataset` (data read when
    indexed; netCDF-3 is read whole by scipy when opened). Raises DataError (see the module)."""
    where = _Where(location, storage_options, path_key)
    fs, path = where.filesystem()
    if _is_zarr_name(path):
        return _open_zarr(where, fs, path)
    if not _is_netcdf_name(path) and where.attempt(lambda: _is_folder(fs, path)):
        return _open_zarr(where, fs, path)
    return _open_netcdf(where, fs, path)


# CF decoding, lazily: no dask (chunks=None), and no in-memory cache of whole variables
_DECODE = {"mask_and_scale": True, "decode_times": True, "chunks": None, "cache": False}


def _open_netcdf(where: _Where, fs, path: str):
    """A netCDF file through an fsspec file object: HDF5-based netCDF-4 with h5netcdf, netCDF-3
    (classic and 64-bit offset) with scipy, chosen by the file's first bytes."""
    xr = require("xarray", "xarray", "data=xarray")

    handle = where.attempt(lambda: fs.open(path, "rb"))
    head = where.attempt(lambda: _head_and_tail(handle, where.protocol in ("http", "https")))
    if head.startswith(_MAGIC_NETCDF3 + b"\x05"):
        handle.close()
        raise DataError(f"{where.named} is a CDF-5 (64-bit data) netCDF-3 file, which scipy can't read: convert it "
                        "(nccopy -k nc4 in.nc out.nc) or give the local path")  # fmt: skip
    if head.startswith(_MAGIC_NETCDF3):
        engine = "scipy"
    elif head.startswith(_MAGIC_HDF5):
        engine = "h5netcdf"
    else:
        handle.close()
        raise DataError(f"{where.named} is neither a netCDF file (netCDF-3, or netCDF-4 on HDF5) nor a Zarr store "
                        f"(it starts with {head[:8]!r}): give a .nc file or a .zarr store")  # fmt: skip
    bound = _ProcessBound(handle, where.named)
    try:
        ds = xr.open_dataset(bound, engine=engine, **_DECODE)
    except Exception as err:
        bound.close()
        raise where.problem(err, f"is not a readable netCDF file ({engine})") from None
    ds.set_close(_closing(ds._close, bound))
    return ds


class _ProcessBound(io.RawIOBase):
    """A read-only view of an fsspec file object that refuses to be read by another process
    than the one that opened it. In a forked child fsspec's event loop doesn't run, and a read
    through the parent's file object waits for it forever (tests/data/test_remote.py saw a
    loader worker hang): this turns the hang into an error; each process opens its own."""

    def __init__(self, handle, named: str) -> None:
        super().__init__()
        self._handle, self._named, self._pid = handle, named, os.getpid()

    def _own(self):
        if os.getpid() != self._pid:
            raise DataError(f"{self._named} was opened by process {self._pid} and read by {os.getpid()}: "
                            "open it in the process that reads it (open_dataset in each loader worker)")  # fmt: skip
        return self._handle

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._own().readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._own().seek(offset, whence)

    def tell(self) -> int:
        return self._own().tell()

    def close(self) -> None:
        if not self.closed and os.getpid() == self._pid:
            self._handle.close()
        super().close()


def _head_and_tail(handle, web: bool) -> bytes:
    """The first 8 bytes. On a web server the last byte is read too, so that a server that ignores
    Range requests fails here and not in a loader worker (a file of one block needs none)."""
    head = handle.read(8)
    size = getattr(handle, "size", None)  # None: a local copy (simplecache::), read as a file
    if web and size and size > 8:
        handle.seek(size - 1)
        handle.read(1)
    handle.seek(0)
    return head


def _closing(close, handle):
    """The dataset's close, then the file object's."""

    def both() -> None:
        try:
            if close is not None:
                close()
        finally:
            handle.close()

    return both


def _open_zarr(where: _Where, fs, path: str):
    """A Zarr store (v3: zarr.json, v2: .zgroup), its consolidated metadata used when it has
    some (so opening it is one read, without the fallback warning of xarray)."""
    xr = require("xarray", "xarray", "data=xarray")

    if "::" in where.location:
        raise DataError(f"{where.named}: a Zarr store is read chunk by chunk, without a cache chain: give its URL "
                        f"without {where.location.rsplit('::', 1)[0]}::")  # fmt: skip
    zarr_format, consolidated = _zarr_layout(where, fs, path)
    try:
        # xarray.open_zarr's work, with cache=False (open_zarr has no such argument)
        ds = xr.open_dataset(where.location, engine="zarr", storage_options=where.options or None,
                             zarr_format=zarr_format, consolidated=consolidated, **_DECODE)  # fmt: skip
    except Exception as err:
        raise where.problem(err, f"is not a readable Zarr v{zarr_format} store") from None
    if not ds.data_vars:
        ds.close()
        raise DataError(_no_variables(where, consolidated))
    return ds


def _no_variables(where: _Where, consolidated: bool) -> str:
    """Why a Zarr store shows no variable: over HTTP its arrays are found by listing its folder,
    which many web servers don't do (tests/servers.py's `listings=False`); consolidated metadata
    names them all."""
    if where.protocol in ("http", "https") and not consolidated:
        return (f"{where.named} shows no variables: over HTTP a Zarr store without consolidated metadata needs a "
                "server that lists folders: consolidate it (zarr.consolidate_metadata, or xarray's "
                "to_zarr(consolidated=True))")  # fmt: skip
    return f"{where.named} holds no variables: give the store that holds your data"


def _zarr_layout(where: _Where, fs, path: str) -> tuple[int, bool]:
    """(zarr format, consolidated) of the store at `path`, from its metadata files."""
    base = path.rstrip("/")
    group = _read_if_there(where, fs, f"{base}/zarr.json")
    if group is not None:
        try:
            meta = json.loads(group)
        except ValueError:
            raise DataError(f"{where.named} has a zarr.json that is not JSON: write the store again") from None
        return 3, bool(isinstance(meta, dict) and meta.get("consolidated_metadata"))
    if _read_if_there(where, fs, f"{base}/.zmetadata") is not None:
        return 2, True
    if _read_if_there(where, fs, f"{base}/.zgroup") is not None:
        return 2, False
    if where.attempt(lambda: fs.exists(base)) and where.attempt(lambda: _is_folder(fs, base)):
        raise DataError(f"{where.named} is not a Zarr store (it has no zarr.json or .zgroup): give the store's "
                        "top folder, or a folder of .nc files / .zarr stores")  # fmt: skip
    raise where.problem(FileNotFoundError(path), "")


def _read_if_there(where: _Where, fs, path: str) -> bytes | None:
    """The bytes of a small file, None when it doesn't exist (other failures are errors)."""
    try:
        return fs.cat_file(path)
    except FileNotFoundError as err:  # missing, unless the host, the bucket or the credentials are the trouble
        if _cause(err, "ClientConnectorError", "EndpointConnectionError", "NoSuchBucket") or _status(err) in (401, 403):
            raise where.problem(err, "") from None
        return None
    except Exception as err:
        raise where.problem(err, "") from None


def _is_folder(fs, path: str) -> bool:
    """Whether `path` is a folder (a prefix of keys, or a page of links on a web server)."""
    info = fs.info(path)
    if info.get("type") == "directory":
        return True
    web = "http" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    return web and (path.endswith("/") or str(info.get("mimetype", "")).startswith("text/html"))


def _is_zarr_name(path: str) -> bool:
    return _without_query(path).rstrip("/").lower().endswith(ZARR_SUFFIX)


def _is_netcdf_name(path: str) -> bool:
    return _without_query(path).lower().endswith(NETCDF_SUFFIXES)


def _without_query(path: str) -> str:
    """A URL without its query and fragment (`?token=…`); other paths as they are."""
    return urlunsplit(urlsplit(path)._replace(query="", fragment="")) if "://" in path else path


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


class _Where:
    """One location being read: its URL, storage options and config key, and the messages that
    name them without secrets."""

    def __init__(self, location: str, storage_options: Mapping | None, path_key: str) -> None:
        self.location, self.path_key = str(location), path_key
        self.options = _plain(storage_options) if storage_options else {}
        if not isinstance(self.options, dict):
            raise DataError(f"data.storage_options={type(storage_options).__name__} must be a mapping: "
                            "e.g. data.storage_options={anon: true}")  # fmt: skip
        self.protocol = self.location.split("::")[-1].split("://", 1)[0].lower() if is_url(self.location) else "file"
        self.named = f"{path_key}={redact(self.location)}"

    def filesystem(self):
        """(fsspec filesystem, path inside it) of the location; DataError when the protocol is
        unknown, its package missing, or a storage option wrong."""
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(self.location, **self.options)
        except ImportError:
            package = PACKAGES.get(self.protocol, f"the fsspec implementation of {self.protocol}://")
            raise DataError(f"{self.named}: reading {self.protocol}:// needs the package {package}: "
                            f"pip install {package}") from None  # fmt: skip
        except ValueError as err:
            if "protocol" not in str(err).lower():
                raise self.problem(err, "") from None
            raise DataError(f"{self.named}: fsspec knows no protocol {self.protocol}://: give s3://, gs://, az://, "
                            "http(s):// or a local path") from None  # fmt: skip
        except TypeError as err:
            raise DataError(f"data.storage_options are not options of {self.protocol}:// ({self.scrub(err)}): "
                            "give only the options of its fsspec filesystem") from None  # fmt: skip
        _MADE.add(fs)
        return fs, path

    def attempt(self, call):
        """call(), its failure turned into the DataError that names the problem and the fix."""
        try:
            return call()
        except DataError:
            raise
        except Exception as err:
            raise self.problem(err, "") from None

    def listed(self, fs, entries, verb: str) -> list[str]:
        """The netCDF files and Zarr stores among `entries` (paths of `fs`), as sorted URLs."""
        keep = [e for e in entries if _is_zarr_name(e) or _is_netcdf_name(e.rstrip("/"))]
        if not keep:
            shown = ", ".join(_name(e) for e in sorted(entries)[:5]) or "nothing"
            raise DataError(f"{self.named} {verb} no netCDF file (.nc .nc4 .netcdf .cdf) or Zarr store (.zarr) "
                            f"(it {verb} {shown}): give the folder or a glob of your files")  # fmt: skip
        return sorted(self.url_of(fs, e.rstrip("/")) for e in keep)

    def url_of(self, fs, path: str) -> str:
        """The URL of `path` inside `fs`, with this location's chain prefix (`simplecache::`)."""
        url = path if is_url(path) else fs.unstrip_protocol(path)
        chain = self.location.rsplit("::", 1)[0] + "::" if "::" in self.location else ""
        return chain + url

    def problem(self, err: BaseException, what: str) -> DataError:
        """The one-line DataError for `err`, a failure reading this location (`what` describes a
        failure that fits no known kind)."""
        return DataError(self._diagnose(err) or self._unknown(err, what))

    def _diagnose(self, err: BaseException) -> str | None:
        if _cause(err, "NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
            return f"{self.named}: no credentials were found: {self._credentials()}"
        if _cause(err, "PermissionError") or _status(err) in (401, 403) or _code(err) in _DENIED:
            code = _code(err) or _status(err) or "access denied"
            return f"{self.named}: the credentials were refused ({code}): {self._credentials()}"
        reached = self._unreachable(err)
        if reached:
            return reached
        if "range requests" in str(err).lower():
            return (f"{self.named}: the server ignores HTTP Range requests, which reading part of a netCDF file needs: "
                    f"read a downloaded copy: {self.path_key}=simplecache::{redact(self.location)} (or a local path)")  # fmt: skip
        if _cause(err, "FileNotFoundError", "NoSuchBucket", "NoSuchKey", "GroupNotFoundError") or _status(err) == 404:
            return self._missing(err)
        return None

    def _unreachable(self, err: BaseException) -> str | None:
        found = _cause(err, "ClientConnectorError", "EndpointConnectionError", "ConnectTimeoutError",
                       "ConnectionRefusedError", "gaierror", "ServerTimeoutError", "FSTimeoutError")  # fmt: skip
        if found is None:
            return None
        connector = _cause(err, "ClientConnectorError")  # aiohttp's, which knows the host and port
        where = f"{connector.host}:{connector.port}" if connector is not None else self._endpoint()
        why = ("the name does not resolve" if _cause(err, "gaierror", "ClientConnectorDNSError")
               else "timed out" if _cause(err, "TimeoutError", "FSTimeoutError", "ConnectTimeoutError", "ServerTimeoutError")
               else "connection refused")  # fmt: skip
        fix = " (and data.storage_options' client_kwargs.endpoint_url)" if self.protocol in ("s3", "s3a") else ""
        return f"{self.named}: cannot connect to {where} ({why}): check the address{fix} and that the server is up"

    def _missing(self, err: BaseException) -> str:
        bucket = self._bucket()
        if bucket and (_cause(err, "NoSuchBucket") or not self._exists(bucket)):
            return (f"{self.named}: there is no bucket {bucket!r} at {self._endpoint()}: check the bucket's name"
                    + (" and data.storage_options' client_kwargs.endpoint_url" if self.protocol.startswith("s3") else ""))  # fmt: skip
        if self.protocol in ("http", "https"):
            return f"{self.named} was not found (HTTP 404): check the address"
        return f"{self.named} does not exist: check the path (a glob such as {self._parent()}/* lists what is there)"

    def _unknown(self, err: BaseException, what: str) -> str:
        what = what or "can't be read"
        return f"{self.named} {what} ({self.scrub(err)}): check the address and data.storage_options"

    def _credentials(self) -> str:
        kind = {"s3a": "s3", "gcs": "gs", "abfs": "az", "abfss": "az", "https": "http"}.get(
            self.protocol, self.protocol
        )
        return _CREDENTIALS.get(kind, "give the store's credentials in data.storage_options")

    def _bucket(self) -> str | None:
        if self.protocol not in _OBJECT_STORES:
            return None
        rest = self.location.split("::")[-1].split("://", 1)[1]
        return rest.split("/", 1)[0].rsplit("@", 1)[-1] or None

    def _exists(self, bucket: str) -> bool:
        try:
            fs, _ = self.filesystem()
            return bool(fs.exists(bucket))
        except Exception:
            return True  # unknown: say what is certain (the object is missing)

    def _endpoint(self) -> str:
        endpoint = (self.options.get("client_kwargs") or {}).get("endpoint_url") or self.options.get("endpoint_url")
        if endpoint:
            return redact(str(endpoint))
        if self.protocol in ("http", "https"):
            return urlsplit(self.location.split("::")[-1]).netloc.rsplit("@", 1)[-1]
        return {"s3": "AWS S3", "s3a": "AWS S3", "gs": "Google Cloud Storage"}.get(self.protocol, self.protocol)

    def _parent(self) -> str:
        return redact(self.location.rstrip("/").rsplit("/", 1)[0])

    def scrub(self, err: BaseException | str) -> str:
        """`err` as one short line without secrets: URLs redacted, the values of secret
        storage options and secret environment variables replaced by ***."""
        text = f"{type(err).__name__}: {err}" if isinstance(err, BaseException) else str(err)
        text = _URL_IN_TEXT.sub(lambda m: redact(m.group(0)), text)
        for secret in sorted(set(_secrets(self.options)) | _environment_secrets(), key=len, reverse=True):
            text = text.replace(secret, "***")
        text = " ".join(text.split())
        return text if len(text) <= 240 else text[:237] + "..."


_DENIED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken",
           "AllAccessDisabled", "AuthorizationPermissionMismatch", "AuthenticationFailed"}  # fmt: skip


def _chain(err: BaseException) -> Iterator[BaseException]:
    """err and the exceptions it was raised from or during, outermost first."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _cause(err: BaseException, *names: str) -> BaseException | None:
    """The first exception of err's chain whose class (or a base class) has one of `names`;
    by name, so that botocore, aiohttp and zarr are imported only when they are used."""
    for item in _chain(err):
        if any(cls.__name__ in names for cls in type(item).__mro__):
            return item
    return None


def _status(err: BaseException) -> int | None:
    """The HTTP status in err's chain (aiohttp's `status`, botocore's response), if any."""
    for item in _chain(err):
        status = getattr(item, "status", None)
        if isinstance(status, int):
            return status
        response = getattr(item, "response", None)
        if isinstance(response, dict):
            code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if isinstance(code, int):
                return code
    return None


def _code(err: BaseException) -> str | None:
    """The error code of an S3 / botocore answer in err's chain (`InvalidAccessKeyId`), if any."""
    for item in _chain(err):
        response = getattr(item, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code and not str(code).isdigit():
                return str(code)
    return None


def _plain(value):
    """Mappings and lists (also OmegaConf's) as plain dicts and lists, for fsspec."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(v) for v in value]
    return value


def redact_options(options):
    """A copy of `options` with the value under every secret-looking key (key, secret, token, …)
    replaced by "***", at any depth: what may be logged or written beside a run."""
    if isinstance(options, Mapping):
        return {k: "***" if _SECRET_NAME.search(str(k)) and v is not None else redact_options(v)
                for k, v in options.items()}  # fmt: skip
    if isinstance(options, list):
        return [redact_options(v) for v in options]
    return redact(options) if isinstance(options, str) and is_url(options) else options


def scrub(text: str, options, mask: str = "***") -> str:
    """`text` with the secrets of `options` (values under secret-looking keys, user info of
    URLs) replaced by `mask`."""
    for secret in sorted(set(_secrets(options)), key=len, reverse=True):
        text = text.replace(secret, mask)
    return text


def _secrets(options, secret: bool = False) -> Iterator[str]:
    """The string values of `options` under a secret-looking key (key, secret, token, …), at
    any depth, and the user info of URLs among them."""
    if isinstance(options, Mapping):
        for name, value in options.items():
            yield from _secrets(value, secret or bool(_SECRET_NAME.search(str(name))))
    elif isinstance(options, list):
        for value in options:
            yield from _secrets(value, secret)
    elif isinstance(options, str) and options:
        if secret:
            yield options
        if "@" in options and "://" in options:
            yield urlsplit(options).netloc.rsplit("@", 1)[0]


def _environment_secrets() -> set[str]:
    """Values of secret-looking environment variables (AWS_SECRET_ACCESS_KEY, …), 8 characters or more."""
    return {v for k, v in os.environ.items() if re.search(r"SECRET|TOKEN|PASSWORD|ACCOUNT_KEY|SAS", k) and len(v) >= 8}
