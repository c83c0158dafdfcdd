"""Real servers on 127.0.0.1 for the remote-data tests (docs/data.md, "Remote stores"), each on a
free port and stopped after its tests:

- `s3_server`: an S3 server (moto's server mode) that checks signatures: the only valid
  credentials are an access key made for the test in the server's own IAM, and the process's
  AWS settings point away from any real ~/.aws while the fixture lives.
- `http_server`: a static server over a folder that answers `Range` requests, as a real file
  server (nginx, Apache, S3 over HTTPS, THREDDS' fileServer) does, and counts the bytes it
  sends (`http_server.sent`).
- `FolderServer`: the same server for a test of its own; `ranges=False` gives Python's plain
  `SimpleHTTPRequestHandler`, which answers every GET with the whole file, `listings=False` a
  server that lists no folders.

Import them in a test file with `from servers import s3_server, http_server`.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BUCKET = "radar"
# the environment of the S3 fixture: no profile, no shared files, no instance metadata (its
# lookup would wait for a timeout), a region; AWS_ACCESS_KEY_ID / _SECRET_ACCESS_KEY are set to
# the test key when the server is up
_AWS_SETTINGS = {"AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull,
                 "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
_AWS_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
              "AWS_ENDPOINT_URL_S3", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")  # fmt: skip


@dataclass
class S3Server:
    """A running S3 server: its endpoint, a bucket, and the one valid key pair."""

    endpoint: str
    bucket: str
    key: str
    secret: str

    def options(self, **more) -> dict:
        """`storage_options` that reach this server with the valid credentials."""
        return {"key": self.key, "secret": self.secret, "client_kwargs": {"endpoint_url": self.endpoint}, **more}

    def filesystem(self):
        """A fresh s3fs filesystem on this server (to upload test files)."""
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.options())


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free port with the bucket `radar`, signatures checked (a wrong key
    is `InvalidAccessKeyId`, a wrong secret `SignatureDoesNotMatch`, as on AWS)."""
    pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (pip install -e '.[dev]')")
    import boto3
    from moto.server import ThreadedMotoServer

    requests_log = logging.getLogger("werkzeug")  # moto's web framework: a line per request
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as env:
        for name in _AWS_UNSET:
            env.delenv(name, raising=False)
        for name, value in _AWS_SETTINGS.items():
            env.setenv(name, value)
        # moto's own IAM: a user allowed everything on S3, and its key; then every request is checked
        session = {"aws_access_key_id": "setup", "aws_secret_access_key": "setup", "region_name": "us-east-1",
                   "endpoint_url": endpoint}  # fmt: skip
        iam = boto3.client("iam", **session)
        iam.create_user(UserName="tester")
        iam.put_user_policy(UserName="tester", PolicyName="s3", PolicyDocument=_ALLOW_S3)
        made = iam.create_access_key(UserName="tester")["AccessKey"]
        boto3.client("s3", **session).create_bucket(Bucket=BUCKET)
        _post(f"{endpoint}/moto-api/reset-auth", b"0")
        env.setenv("AWS_ACCESS_KEY_ID", made["AccessKeyId"])
        env.setenv("AWS_SECRET_ACCESS_KEY", made["SecretAccessKey"])
        try:
            yield S3Server(endpoint, BUCKET, made["AccessKeyId"], made["SecretAccessKey"])
        finally:
            _post(f"{endpoint}/moto-api/reset-auth", b"inf")  # moto's settings are this process's
            server.stop()
            requests_log.setLevel(level)


_ALLOW_S3 = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'


def _post(url: str, body: bytes) -> None:
    import urllib.request

    # text/plain: a form content type would make the server's framework swallow the body
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        reply.read()


class RangeHandler(SimpleHTTPRequestHandler):
    """`SimpleHTTPRequestHandler` (files and folder listings of one folder) that also answers a
    single `Range: bytes=a-b` (or `a-`, `-n`) with 206 Partial Content, as file servers do;
    HTTP/1.1 with keep-alive. Quiet: no log line per request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:
        pass

    def copyfile(self, source, outputfile) -> None:
        """The body, its bytes counted in the server's `sent` (what its clients downloaded)."""
        data = source.read()
        outputfile.write(data)
        with self.server.lock:
            self.server.sent += len(data)

    def end_headers(self) -> None:
        if not getattr(self, "_ranged", False):
            self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def send_head(self):
        self._ranged = False
        wanted = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if wanted is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        span = _byte_range(wanted, size)
        if span is None:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        first, last = span
        with open(path, "rb") as f:
            f.seek(first)
            body = f.read(last - first + 1)
        self._ranged = True
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(body)


class PlainHandler(SimpleHTTPRequestHandler):
    """Python's own static handler, quiet: no Range support (every GET is the whole file)."""

    def log_message(self, format, *args) -> None:
        pass


class UnlistedHandler(RangeHandler):
    """`RangeHandler` that lists no folders (404), as a web server without autoindex, or S3's
    website hosting: only files can be fetched, by their exact names."""

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND, "no folder listings here")
        return None


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single-range `bytes=` header, None when it can't be
    served (several ranges, or past the end)."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if match is None or match.group(1) == match.group(2) == "":
        return None
    start, end = match.groups()
    if start == "":  # the last n bytes
        first, last = max(size - int(end), 0), size - 1
    else:
        first, last = int(start), min(int(end), size - 1) if end else size - 1
    return (first, last) if first <= last and first < size else None


class _QuietServer(ThreadingHTTPServer):
    """A client that stops reading (a reader given up on a whole-file answer) is no error here."""

    daemon_threads = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent, self.lock = 0, threading.Lock()  # bytes of bodies sent (RangeHandler counts them)

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FolderServer:
    """A threaded HTTP server over `folder` on a free port of 127.0.0.1 (`url`); `stop()` ends it.
    `ranges=False`: Python's plain handler (no Range requests); `listings=False`: no folder pages."""

    def __init__(self, folder: Path, ranges: bool = True, listings: bool = True) -> None:
        self.folder = Path(folder)
        kind = (RangeHandler if listings else UnlistedHandler) if ranges else PlainHandler
        handler = functools.partial(kind, directory=str(folder))
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def sent(self) -> int:
        """Bytes of response bodies sent so far (with Range support; files and listings)."""
        return self._server.sent

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture(scope="module")
def http_server(tmp_path_factory) -> Iterator[FolderServer]:
    """A Range-capable HTTP server over an empty folder (`http_server.folder`): write the files
    to serve into it; `http_server.url` is its address."""
    folder = tmp_path_factory.mktemp("served")
    server = FolderServer(folder)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
