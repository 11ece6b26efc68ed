"""The loopback S3 helpers: a real moto server process, and a proxy that refuses PUTs."""

from __future__ import annotations

import http.client
import os
import urllib.parse
from collections.abc import Iterator

import boto3
import numpy as np
import pytest
import xarray as xr

from tests.s3server import (
    AWS_TEST_ENV,
    MotoServer,
    RefusingProxy,
    free_port,
    make_bucket,
    storage_options,
)

BUCKET = "xzarrio-test"

pytestmark = pytest.mark.filterwarnings("ignore:Consolidated metadata:UserWarning")


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    """The environment from AWS_TEST_ENV, for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in AWS_TEST_ENV.items():
            if value is None:
                mp.delenv(name, raising=False)
            else:
                mp.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def moto(aws_env: None) -> Iterator[MotoServer]:
    """One moto server process for the module, with BUCKET made."""
    with MotoServer() as server:
        make_bucket(server.endpoint, BUCKET)
        yield server


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[RefusingProxy]:
    """A fresh refusing proxy in front of the module's moto server."""
    with RefusingProxy(moto.endpoint) as p:
        yield p


@pytest.fixture
def ds() -> xr.Dataset:
    """A small dataset with a coordinate, attributes and two chunks per variable."""
    return xr.Dataset(
        {
            "temp": (("y", "x"), np.arange(24, dtype="f4").reshape(4, 6), {"units": "K"}),
            "flag": (("x",), np.array([1, 0, 1, 1, 0, 1], dtype="i1")),
        },
        coords={"x": np.arange(6.0)},
        attrs={"title": "tiny"},
    )


def test_server_starts_resets_and_stops(aws_env: None) -> None:
    server = MotoServer().start()
    pid = server.pid
    assert pid is not None
    host, port = urllib.parse.urlsplit(server.endpoint).netloc.split(":")
    assert (host, int(port)) == ("127.0.0.1", server.port)
    make_bucket(server.endpoint, "to-be-dropped")
    client = boto3.client("s3", endpoint_url=server.endpoint)
    assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["to-be-dropped"]
    server.reset()
    assert client.list_buckets()["Buckets"] == []
    client.close()
    server.stop()
    assert server.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(host, server.port, timeout=5).connect()
    server.stop()  # a second stop is harmless


def test_free_port_is_bindable() -> None:
    assert 1024 <= free_port() <= 65535


@pytest.mark.parametrize("via", ["server", "proxy"])
def test_xarray_roundtrip(via: str, moto: MotoServer, proxy: RefusingProxy, ds: xr.Dataset) -> None:
    endpoint = moto.endpoint if via == "server" else proxy.endpoint
    url = f"s3://{BUCKET}/roundtrip-{via}.zarr"
    ds.chunk(x=3).to_zarr(url, storage_options=storage_options(endpoint))
    back = xr.open_zarr(url, storage_options=storage_options(endpoint))
    xr.testing.assert_identical(back.load(), ds)
    assert back.temp.encoding["chunks"] == (4, 3)
    if via == "proxy":
        assert proxy.forwarded_puts > 0
        assert proxy.refused == 0
    else:
        assert proxy.forwarded_puts == 0


def test_refused_put_fails_the_write(
    moto: MotoServer, proxy: RefusingProxy, ds: xr.Dataset
) -> None:
    proxy.refuse_puts(lambda path: path.startswith(f"/{BUCKET}/refused.zarr/"))
    with pytest.raises(PermissionError, match="refused by the test") as info:
        ds.to_zarr(f"s3://{BUCKET}/refused.zarr", storage_options=storage_options(proxy.endpoint))
    assert type(info.value) is PermissionError  # s3fs's translation of AccessDenied
    assert type(info.value.__cause__).__name__ == "AccessDenied"  # the botocore ClientError
    assert proxy.refused == 1  # no retries: the first refused PUT ends the write
    # nothing refused reached the server
    client = boto3.client("s3", endpoint_url=moto.endpoint)
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="refused.zarr/")
    client.close()
    assert listed.get("KeyCount", 0) == 0
    # other paths still go through; allow_all lifts the rule and zeroes the counts
    ds.to_zarr(f"s3://{BUCKET}/allowed.zarr", storage_options=storage_options(proxy.endpoint))
    proxy.allow_all()
    assert (proxy.refused, proxy.forwarded_puts) == (0, 0)
    ds.to_zarr(f"s3://{BUCKET}/refused.zarr", storage_options=storage_options(proxy.endpoint))
    assert proxy.refused == 0
    assert proxy.forwarded_puts > 0


def test_refuse_after_some_chunks(moto: MotoServer, proxy: RefusingProxy, ds: xr.Dataset) -> None:
    url = f"s3://{BUCKET}/partial.zarr"
    proxy.refuse_puts(lambda path: "/partial.zarr/temp/c/" in path, after=1)
    with pytest.raises(PermissionError):
        ds.chunk(x=3).to_zarr(url, storage_options=storage_options(proxy.endpoint))
    assert proxy.refused == 1
    client = boto3.client("s3", endpoint_url=moto.endpoint)
    keys = {
        o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="partial.zarr/")["Contents"]
    }
    client.close()
    assert len({k for k in keys if k.startswith("partial.zarr/temp/c/")}) == 1


def test_proxy_dechunks_and_answers_expect_100(moto: MotoServer, proxy: RefusingProxy) -> None:
    parts = urllib.parse.urlsplit(proxy.endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    conn.request(
        "PUT",
        f"/{BUCKET}/raw/chunked.bin",
        body=iter([b"hello ", b"chunked ", b"world"]),
        headers={"Expect": "100-continue"},
        encode_chunked=True,
    )
    assert conn.getresponse().status == 200
    conn.close()
    client = boto3.client("s3", endpoint_url=moto.endpoint)
    body = client.get_object(Bucket=BUCKET, Key="raw/chunked.bin")["Body"].read()
    client.close()
    assert body == b"hello chunked world"
    assert proxy.forwarded_puts == 1
