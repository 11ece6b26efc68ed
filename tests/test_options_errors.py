"""set_options and the exception tree."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import xzarrio
from xzarrio import errors


def test_set_options_as_context_manager_restores() -> None:
    before = xzarrio.get_option("num_workers")
    with xzarrio.set_options(num_workers=3, compressor="lz4", progress=True):
        assert xzarrio.get_option("num_workers") == 3
        assert xzarrio.get_option("compressor") == "lz4"
    assert xzarrio.get_option("num_workers") == before
    assert xzarrio.get_option("compressor") == "default"


def test_set_options_globally() -> None:
    xzarrio.set_options(chunk_target_bytes=1000)
    try:
        assert xzarrio.get_option("chunk_target_bytes") == 1000
    finally:
        xzarrio.set_options(chunk_target_bytes=16 * 2**20)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"colour": "red"},
            r"unknown option 'colour'; valid options are \['checksums', 'chunk_target_bytes'",
            id="unknown-name",
        ),
        pytest.param(
            {"num_workers": 0},
            r"num_workers=0 is invalid: expected None \(all cores\) or an integer >= 1",
            id="zero-workers",
        ),
        pytest.param(
            {"compressor": "brotli"},
            r"compressor='brotli' is invalid.*'default', 'blosc-zstd', 'blosc-zstd-bit', 'zstd'",
            id="unknown-compressor",
        ),
        pytest.param(
            {"provenance": "yes"},
            r"provenance='yes' is invalid: expected True or False",
            id="provenance-not-bool",
        ),
        pytest.param(
            {"chunk_target_bytes": -5}, r"chunk_target_bytes=-5 is invalid", id="negative-target"
        ),
    ],
)
def test_bad_options_raise_value_error(kwargs: dict, message: str) -> None:
    before = dict(xzarrio.options.OPTIONS)
    with pytest.raises(ValueError, match=message):
        xzarrio.set_options(**kwargs)
    assert before == xzarrio.options.OPTIONS


def test_every_error_derives_from_the_tree_and_a_builtin() -> None:
    builtins = (
        FileExistsError,
        FileNotFoundError,
        ValueError,
        TypeError,
        ImportError,
        RuntimeError,
        PermissionError,
    )
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if c is not errors.XzarrioError
    ]
    assert len(classes) >= 10
    for cls in classes:
        assert issubclass(cls, errors.XzarrioError), cls
        assert issubclass(cls, builtins), cls
    assert issubclass(errors.StoreExistsError, FileExistsError)
    assert issubclass(errors.StoreNotFoundError, FileNotFoundError)


def test_public_names() -> None:
    for name in (
        "open_zarr",
        "info",
        "set_options",
        "WriteReport",
        "StoreInfo",
        "Provenance",
        "errors",
    ):
        assert hasattr(xzarrio, name), name
    assert isinstance(xzarrio.__version__, str) and xzarrio.__version__[0].isdigit()


def test_options_accept_what_to_zarr_accepts() -> None:
    with xzarrio.set_options(compressor="ZSTD", num_workers=np.int64(2)):
        assert xzarrio.get_option("num_workers") == 2
