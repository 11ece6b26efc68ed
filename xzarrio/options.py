"""Package-wide defaults, set globally or for a ``with`` block."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .chunks import is_size
from .errors import InvalidOptionError

__all__ = ["OPTIONS", "get_option", "set_options"]

#: the default of every option; ``None`` for ``num_workers`` means all cores
OPTIONS: dict[str, Any] = {
    "compressor": "default",
    "num_workers": None,
    "progress": False,
    "provenance": True,
    "chunk_target_bytes": 16 * 2**20,
    "checksums": True,
}


def _valid_compressor(value: Any) -> bool:
    from .codecs import COMPRESSOR_NAMES, is_codec

    if isinstance(value, str):
        return value.lower() in COMPRESSOR_NAMES
    return value is None or is_codec(value)


_VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "compressor": (_valid_compressor, "a compressor name or codec object"),
    "num_workers": (
        lambda v: v is None or is_size(v),
        "None (all cores) or an integer >= 1",
    ),
    "progress": (lambda v: isinstance(v, bool), "True or False"),
    "provenance": (lambda v: isinstance(v, bool), "True or False"),
    "chunk_target_bytes": (is_size, "an integer number of bytes >= 1"),
    "checksums": (lambda v: isinstance(v, bool), "True or False"),
}


def _check(name: str, value: Any) -> None:
    if name not in OPTIONS:
        raise InvalidOptionError(f"unknown option {name!r}; valid options are {sorted(OPTIONS)}")
    ok, expected = _VALIDATORS[name]
    if not ok(value):
        if name == "compressor":
            from .codecs import COMPRESSOR_NAMES

            expected += f" (names: {list(COMPRESSOR_NAMES)})"
        raise InvalidOptionError(f"option {name}={value!r} is invalid: expected {expected}")


class set_options:
    """Set xzarrio's defaults, globally or for a ``with`` block.

    Parameters
    ----------
    compressor : str or codec, default ``"default"``
        Compressor used when ``to_zarr`` gets none; ``"default"`` is
        ``"blosc-zstd"`` on floating-point variables and ``"zstd"`` on the others.
    num_workers : int or None, default None
        Threads used for writing and profiled computes; None means all cores.
    progress : bool, default False
        Show a progress bar on stderr while chunks are written.
    provenance : bool, default True
        Stamp ``history``, ``creation_date`` and ``gmt_timestamp`` on writes.
    chunk_target_bytes : int, default 16 MiB
        Size aimed at by ``chunks="auto"``.
    checksums : bool, default True
        A crc32c checksum on every chunk of new zarr 3 arrays whose codecs
        xzarrio picks (see ``to_zarr(checksums=...)``).

    Raises
    ------
    ValueError
        For an unknown option name or a bad value; the message names the valid ones.

    Examples
    --------
    >>> import xzarrio
    >>> with xzarrio.set_options(compressor="lz4", num_workers=2):
    ...     xzarrio.get_option("compressor")
    'lz4'
    >>> xzarrio.get_option("compressor")
    'default'
    """

    def __init__(self, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            _check(name, value)
        self._old = {name: OPTIONS[name] for name in kwargs}
        OPTIONS.update(
            {
                k: int(v) if k in ("num_workers", "chunk_target_bytes") and v is not None else v
                for k, v in kwargs.items()
            }
        )

    def __enter__(self) -> set_options:
        return self

    def __exit__(self, *exc: object) -> None:
        OPTIONS.update(self._old)


def get_option(name: str) -> Any:
    """Return the current value of one option (see :class:`set_options`)."""
    if name not in OPTIONS:
        raise InvalidOptionError(f"unknown option {name!r}; valid options are {sorted(OPTIONS)}")
    return OPTIONS[name]


def resolve_num_workers(value: Any) -> int:
    """*value* checked (an integer >= 1), or the default when it is None."""
    if value is None:
        return default_num_workers()
    if not is_size(value):
        raise InvalidOptionError(f"num_workers must be an integer >= 1 or None, got {value!r}")
    return int(value)


def default_num_workers() -> int:
    """The thread count used when neither the call nor the options set one."""
    value = OPTIONS["num_workers"]
    return value if value is not None else (os.cpu_count() or 1)
