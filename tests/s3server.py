"""Real S3 on loopback for the tests: a moto server subprocess and a refusing proxy.

Nothing here patches botocore or s3fs in-process.  :class:`MotoServer` runs
``python -m moto.server`` as a separate process on a free 127.0.0.1 port, and
:class:`RefusingProxy` is a small threaded HTTP reverse proxy in front of it that
can be told to answer chosen ``PUT`` requests with an S3-style error instead of
forwarding them.  Clients (s3fs, zarr, xarray, boto3) talk plain HTTP to either
endpoint.

The helpers are plain functions and classes; the fixtures that use them live in
``conftest.py`` (or the test module).  Typical use::

    with MotoServer() as server, RefusingProxy(server.endpoint) as proxy:
        make_bucket(server.endpoint, "bucket")
        opts = storage_options(proxy.endpoint)
        ds.to_zarr("s3://bucket/x.zarr", storage_options=opts)
        proxy.refuse_puts(lambda path: path.endswith("/zarr.json"))
        ...  # a further metadata write now fails with PermissionError
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

#: Credentials every helper here uses; moto accepts any, but they must be present.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"

#: Environment for S3 tests, to apply with ``monkeypatch.setenv`` (value) / ``delenv`` (``None``).
#: The helpers pass credentials, region and endpoint explicitly, but botocore still reads
#: the environment: ``AWS_PROFILE`` naming a profile that does not exist raises
#: ``ProfileNotFound`` even with explicit keys, ``HTTP_PROXY``/``HTTPS_PROXY`` without a
#: ``NO_PROXY`` that covers 127.0.0.1 sends loopback traffic to that proxy, and the config
#: files can change S3 settings (addressing style, checksums, retries).
AWS_TEST_ENV: dict[str, str | None] = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_SESSION_TOKEN": None,
    "AWS_SECURITY_TOKEN": None,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_PROFILE": None,
    "AWS_DEFAULT_PROFILE": None,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_ENDPOINT_URL": None,
    "AWS_ENDPOINT_URL_S3": None,
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}

#: The S3 error code sent back for a refused request, by HTTP status.
ERROR_CODES: dict[int, str] = {
    400: "InvalidRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    409: "OperationAborted",
    500: "InternalError",
    503: "SlowDown",
}

# Hop-by-hop headers (RFC 9110 §7.6.1) and the framing headers the proxy rewrites itself.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, then release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def storage_options(endpoint: str) -> dict[str, Any]:
    """s3fs options for talking to *endpoint* (a :class:`MotoServer` or :class:`RefusingProxy`).

    Pass them as ``storage_options=`` to ``xr.Dataset.to_zarr``, ``xr.open_zarr``,
    ``zarr.storage.FsspecStore.from_url`` or ``fsspec.url_to_fs``.

    fsspec caches one ``S3FileSystem`` per distinct set of options (and thread), so
    every call with the same *endpoint* shares one instance and its connection
    pool; each server or proxy has its own port, hence its own instance.
    ``use_listings_cache=False`` keeps that shared instance from answering from
    stale directory listings when something else (another endpoint's instance,
    boto3, :meth:`MotoServer.reset`) changed the bucket.  ``skip_instance_cache``
    is deliberately not set: a fresh instance per call doubles the time of a small
    round trip and leaves an unclosed aiohttp session behind for every call.
    """
    return {
        "key": ACCESS_KEY,
        "secret": SECRET_KEY,
        "client_kwargs": {"endpoint_url": endpoint, "region_name": REGION},
        "use_listings_cache": False,
    }


def obstore_store(endpoint: str, bucket: str, prefix: str) -> Any:
    """zarr's ``ObjectStore`` over obstore's ``S3Store`` of *prefix* in *bucket* of
    *endpoint* (the opt-in way to reach a bucket through obstore rather than fsspec)."""
    import zarr
    from obstore.store import S3Store

    inner = S3Store(
        bucket,
        prefix=prefix,
        endpoint=endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        region=REGION,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    return zarr.storage.ObjectStore(inner)


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client of *endpoint* (credentials ``testing``, us-east-1)."""
    import boto3  # local: importing boto3 is slow and only the S3 tests need it

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def make_bucket(endpoint: str, name: str) -> None:
    """Create the bucket *name* at *endpoint* with boto3."""
    client = s3_client(endpoint)
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()


class _ExitedEarly(RuntimeError):
    """The server process ended before it answered (typically: its port was taken)."""


def _wait_for_moto(port: int, deadline: float, process: subprocess.Popen[bytes]) -> None:
    """Poll until moto on 127.0.0.1:*port* answers ``GET /moto-api/data.json`` with 200.

    Asking for a moto-only URL, and checking that *process* is still alive, keeps
    another program that happens to hold the port from passing for the server.
    """
    last: object = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise _ExitedEarly(f"the server exited with code {process.returncode} before answering")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/moto-api/data.json")
            response = conn.getresponse()
            response.read()
            if response.status == 200 and process.poll() is None:
                return
            last = f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as exc:  # not up yet
            last = exc
        finally:
            conn.close()
        time.sleep(0.05)
    raise TimeoutError(f"no answer from moto on port {port} in time (last: {last!r})")


class _Service(ABC):
    """Something started and stopped, usable as a context manager."""

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class MotoServer(_Service):
    """``python -m moto.server`` in a subprocess on a free 127.0.0.1 port.

    Parameters
    ----------
    port:
        The port to listen on; a free one (:func:`free_port`) when ``None``.
    startup_timeout:
        Seconds :meth:`start` waits for the server to answer HTTP before giving up.

    Attributes
    ----------
    endpoint:
        ``"http://127.0.0.1:PORT"``, the ``endpoint_url`` for clients.
    port:
        The port it listens on.
    process:
        The ``subprocess.Popen`` while running, else ``None``.

    The server keeps all state (buckets, objects) in memory for its lifetime;
    :meth:`reset` wipes it without a restart.  The server's output goes to a
    temporary log file, whose tail is put in the error if startup fails.
    """

    def __init__(self, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self._port_chosen_here = port is None
        self.port: int = free_port() if port is None else port
        self.endpoint: str = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log_path: str | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while running, else ``None``."""
        return None if self.process is None else self.process.pid

    def start(self) -> Self:
        """Launch the server and wait (bounded by ``startup_timeout``) until it answers.

        When the port was chosen here and another program took it before the
        server could bind it, the start is retried on a fresh port (a few times);
        :attr:`port` and :attr:`endpoint` then change.  Raises ``RuntimeError``
        (with the tail of the server's log) if the server does not come up.
        """
        if self.process is not None:
            raise RuntimeError("the moto server is already running")
        attempts = 3 if self._port_chosen_here else 1
        for attempt in range(attempts):
            try:
                return self._start_once()
            except _ExitedEarly as exc:
                if attempt == attempts - 1:
                    raise RuntimeError(f"moto server did not start: {exc}") from exc
                self.port = free_port()
                self.endpoint = f"http://127.0.0.1:{self.port}"
        raise AssertionError("unreachable")

    def _start_once(self) -> Self:
        fd, self._log_path = tempfile.mkstemp(prefix="moto-server-", suffix=".log")
        with os.fdopen(fd, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        atexit.register(self.stop)
        try:
            _wait_for_moto(self.port, time.monotonic() + self.startup_timeout, self.process)
        except BaseException as exc:
            log_tail = self.log()[-2000:]
            self.stop()
            if isinstance(exc, _ExitedEarly):
                raise _ExitedEarly(f"{exc}\n{log_tail}") from exc
            raise RuntimeError(f"moto server did not start: {exc!r}\n{log_tail}") from exc
        return self

    def log(self) -> str:
        """What the server has written to its log so far (empty once stopped)."""
        if self._log_path is None:
            return ""
        try:
            with open(self._log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def reset(self) -> None:
        """Drop every bucket and object (moto's ``POST /moto-api/reset``)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", "/moto-api/reset")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"moto reset answered HTTP {response.status}")
        finally:
            conn.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server by its pid: ``SIGTERM``, wait up to *timeout* s, then ``SIGKILL``.

        Safe to call more than once; the process is reaped before this returns.
        """
        atexit.unregister(self.stop)
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGKILL)
                    process.wait()
        if self._log_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._log_path)
            self._log_path = None


class _ProxyServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its proxy and can cut its open connections."""

    daemon_threads = True
    block_on_close = True  # server_close() joins the handler threads

    def __init__(self, proxy: RefusingProxy) -> None:
        self.proxy = proxy
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Shut down every client connection, so idle keep-alive handler threads end."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards one request at a time upstream, or refuses it (see :class:`RefusingProxy`)."""

    protocol_version = "HTTP/1.1"  # keep-alive, and Expect: 100-continue handled for us
    disable_nagle_algorithm = True  # else headers-then-body writes stall on delayed ACKs
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no per-request lines on stderr."""

    def _read_body(self) -> bytes | None:
        """The request body, de-chunked if sent with ``Transfer-Encoding: chunked``."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields: dropped
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)  # the CRLF after each chunk
            return b"".join(parts)
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.rfile.read(int(length))

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        """Answer with an S3-style XML error, as S3 itself would."""
        resource = urllib.parse.urlsplit(self.path).path
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{resource}</Resource><RequestId>{uuid.uuid4().hex}</RequestId></Error>"
        ).encode()
        self._send(
            status,
            [
                ("Content-Type", "application/xml"),
                ("Content-Length", str(len(body))),
                ("x-amz-request-id", uuid.uuid4().hex[:16]),
            ],
            body,
        )

    def _upstream(self, body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send this request on to the upstream; its status, end-to-end headers and body."""
        proxy = self.server.proxy
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        out = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        if self.command == "HEAD":  # no body, but the length of the one a GET would get
            length = response.getheader("Content-Length")
            if length is not None:
                out.append(("Content-Length", length))
            payload = b""
        elif response.status >= 200 and response.status not in (204, 304):
            out.append(("Content-Length", str(len(payload))))
        return response.status, out, payload

    def _forward(self) -> None:
        body = self._read_body()  # read it even when refusing, to keep the connection in step
        status = self.server.proxy._decide(self.command, urllib.parse.urlsplit(self.path).path)
        if status is not None:
            self._error(status, ERROR_CODES.get(status, "RefusedByTest"), "refused by the test")
            return
        try:
            reply = self._upstream(body)
        except (OSError, http.client.HTTPException) as exc:  # upstream gone or broken
            self._error(502, "BadGateway", f"upstream failed: {type(exc).__name__}")
            return
        self._send(*reply)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _forward


class RefusingProxy(_Service):
    """A threaded HTTP reverse proxy on 127.0.0.1 in front of *upstream* that can refuse PUTs.

    Every request (method, path and query, headers, body) is forwarded to
    *upstream* with :mod:`http.client` and the upstream's status, headers and body
    are sent back.  The ``Host`` header and all signed headers go through
    unchanged, so SigV4 signatures stay valid.  Chunked request bodies are
    de-chunked and sent on with a ``Content-Length``; ``Expect: 100-continue`` is
    answered by the proxy itself.

    After :meth:`refuse_puts`, matching ``PUT`` requests are answered with an
    S3-style XML error (``<Error><Code>AccessDenied</Code>...`` for 403) and never
    reach the upstream.  403 is the default because botocore does not retry it,
    so the failure surfaces at once (s3fs turns ``AccessDenied`` into
    ``PermissionError``); a 500 or 503 would be retried by botocore and s3fs
    before it fails, which is slow.

    Parameters
    ----------
    upstream:
        The endpoint to forward to, e.g. :attr:`MotoServer.endpoint`.

    Attributes
    ----------
    endpoint:
        ``"http://127.0.0.1:PORT"`` of the proxy, set by :meth:`start`.
    refused:
        How many requests were refused since the last :meth:`allow_all`.
    forwarded_puts:
        How many ``PUT`` requests were forwarded since the last :meth:`allow_all`.
    forwarded:
        How many requests of any kind were forwarded since the last :meth:`allow_all`.
    """

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"upstream must be an http://host:port endpoint, not {upstream!r}")
        self.upstream = upstream
        self.upstream_host: str = parts.hostname
        self.upstream_port: int = parts.port or 80
        self.endpoint: str = ""
        self.refused = 0
        self.forwarded_puts = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        self._matching: Callable[[str], bool] | None = None
        self._after = 0
        self._status = 403
        self._matched = 0
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    def refuse_puts(
        self, matching: Callable[[str], bool], after: int = 0, status: int = 403
    ) -> None:
        """Refuse the ``PUT`` requests whose URL path satisfies *matching*, after *after* of them.

        *matching* is called with the request's URL path, percent-decoded and
        without the query string: ``"/bucket/x.zarr/temp/c/0/0/0"`` for a
        path-style request.  The first *after* matching PUTs from now on are
        forwarded; every later one gets *status* with an S3 XML error body.
        PUTs that do not match are always forwarded.  Replaces any earlier rule;
        the counts are left alone.
        """
        with self._lock:
            self._matching = matching
            self._after = after
            self._status = status
            self._matched = 0

    def allow_all(self) -> None:
        """Forward everything again, and reset :attr:`refused`, :attr:`forwarded_puts` and
        :attr:`forwarded` to 0."""
        with self._lock:
            self._matching = None
            self._matched = 0
            self.refused = 0
            self.forwarded_puts = 0
            self.forwarded = 0

    def _decide(self, method: str, raw_path: str) -> int | None:
        """The status to refuse this request with, or ``None`` to forward it (and count it)."""
        if method != "PUT":
            with self._lock:
                self.forwarded += 1
            return None
        path = urllib.parse.unquote(raw_path)
        with self._lock:
            if self._matching is not None and self._matching(path):
                self._matched += 1
                if self._matched > self._after:
                    self.refused += 1
                    return self._status
            self.forwarded_puts += 1
            self.forwarded += 1
            return None

    def start(self) -> Self:
        """Bind a free 127.0.0.1 port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("the proxy is already running")
        self._server = _ProxyServer(self)
        port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"RefusingProxy:{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and the socket, and join the threads."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.cut_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def bucket_snapshot(endpoint: str, bucket: str) -> dict[str, str]:
    """Every object of *bucket* (key → sha256 of its bytes): what "unchanged" means on S3."""
    import hashlib

    from xzarrio.journal import GENERATION_KEY

    client = s3_client(endpoint)
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/" + GENERATION_KEY):
                continue  # changed for good by a write that began (tests/conftest.py)
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[item["Key"]] = hashlib.sha256(body).hexdigest()
    return found
