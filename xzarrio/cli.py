"""The ``xzarrio`` command line: ``demo``, ``info``, ``history``, ``copy``, ``repair``, ``verify``.

Every verb takes ``--storage-options JSON`` (for URLs) and ``--traceback``.
Errors print one line on stderr and exit with status 1 (130 when interrupted),
with the full traceback only under ``--traceback``. ``verify`` exits with 1
when it finds a problem, one line each on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence

from . import __version__
from .codecs import COMPRESSOR_NAMES
from .demo import run_demo
from .errors import InvalidArgumentError, XzarrioError
from .integrity.verify import verify
from .journal import repair as repair_store
from .reading import open_zarr, provenance_of
from .seams import SubParsersAction
from .storeinfo import store_info
from .stores import open_root

__all__ = ["main"]


def _chunk_spec(text: str) -> tuple[str, int]:
    dim, sep, size = text.partition("=")
    if not sep or not dim:
        raise argparse.ArgumentTypeError(f"--chunks wants DIM=N, got {text!r}")
    try:
        return dim, int(size)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--chunks {text!r}: N must be an integer") from None


def _json_object(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xzarrio", description="Inspect and copy zarr stores written with xzarrio."
    )
    parser.add_argument("--version", action="version", version=f"xzarrio {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    every = argparse.ArgumentParser(add_help=False)  # the options of every verb
    every.add_argument(
        "--storage-options",
        type=_json_object,
        default=None,
        metavar="JSON",
        help="options for fsspec, for URLs, e.g. '{\"anon\": false}'",
    )
    every.add_argument(
        "--traceback", action="store_true", help="on an error, the full traceback (a bug report)"
    )

    demo = verbs.add_parser(
        "demo",
        parents=[every],
        help="the whole workflow on generated data: write, reopen, copy, profile",
    )
    demo.add_argument("--shape", default="8000,7500", help="ROWS,COLS (default 8000,7500)")
    demo.add_argument("--chunks", type=int, default=2000, help="rows per stored chunk")
    demo.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    demo.add_argument(
        "--dir",
        default="xzarrio-demo",
        help="where stores and pictures go (default ./xzarrio-demo)",
    )

    info = verbs.add_parser("info", parents=[every], help="the storage report of a store")
    info.add_argument("store")

    history = verbs.add_parser(
        "history", parents=[every], help="the provenance of a store, newest first"
    )
    history.add_argument("store")
    history.add_argument("--tz", help="show times in this tz database zone, e.g. Europe/Paris")

    repair = verbs.add_parser(
        "repair",
        parents=[every],
        help="roll back the writes a killed process left half-done (paths and URLs)",
    )
    repair.add_argument("store")
    repair.add_argument(
        "--force",
        action="store_true",
        help="roll back even a write whose writer looks alive (its lease has not run out)",
    )

    copy = verbs.add_parser(
        "copy", parents=[every], help="copy a store, rechunked in bounded memory or recompressed"
    )
    copy.add_argument("src")
    copy.add_argument("dst")
    copy.add_argument(
        "--chunks",
        type=_chunk_spec,
        action="append",
        default=[],
        metavar="DIM=N",
        help="stored chunk size along DIM, -1 for the whole dimension (repeat for more dims)",
    )
    copy.add_argument(
        "--compressor", choices=list(COMPRESSOR_NAMES), default=None, help="default: SRC's codecs"
    )
    copy.add_argument(
        "--zarr-format", type=int, choices=[2, 3], default=None, help="default: SRC's format"
    )
    copy.add_argument(
        "--keepbits",
        type=_keepbits,
        default=None,
        metavar="N|auto",
        help="round mantissas of floating-point variables to N bits, or to those that hold "
        "--information of their real information (auto); lossy (default: keep all)",
    )
    copy.add_argument(
        "--information",
        type=float,
        default=0.99,
        metavar="SHARE",
        help="the share of real information --keepbits auto keeps (default: 0.99)",
    )
    copy.add_argument(
        "--max-mem",
        default="1GiB",
        metavar="SIZE",
        help="the data all running tasks may hold, e.g. 500MB or 4GiB (default: 1GiB)",
    )
    copy.add_argument(
        "--checksums",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a crc32c checksum on every chunk of zarr 3 arrays (default: on)",
    )
    copy.add_argument("--history", default=None, help="your note for the history line")
    copy.add_argument("--mode", choices=["w-", "w"], default="w-", help="w replaces DST")
    copy.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show a progress bar on stderr (default: on)",
    )
    _verify_parser(verbs, every)
    return parser


def _verify_parser(
    verbs: SubParsersAction[argparse.ArgumentParser], every: argparse.ArgumentParser
) -> None:
    check = verbs.add_parser(
        "verify",
        parents=[every],
        help="read every chunk and check it against its checksum and the digest written; "
        "exit 1 with one line per problem",
    )
    check.add_argument("store")
    check.add_argument(
        "--quick", action="store_true", help="checksums and the listing only: no decoding"
    )
    check.add_argument(
        "--variable",
        action="append",
        default=None,
        metavar="NAME",
        help="check this variable only (repeat for more; default all)",
    )
    check.add_argument("--group", default=None, help="the group to check (default: the root)")
    check.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    check.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show a progress bar on stderr (default: on)",
    )


def _run(args: argparse.Namespace) -> int:
    """Run the verb; its exit status."""
    if args.verb == "verify":
        return _verify(args)
    if args.verb == "demo":
        try:
            shape = tuple(int(n) for n in args.shape.replace("x", ",").split(","))
        except ValueError:
            raise InvalidArgumentError(f"--shape wants ROWS,COLS, got {args.shape!r}") from None
        run_demo(shape=shape, chunks=args.chunks, workers=args.workers, folder=args.dir)
    elif args.verb == "info":
        print(repr(store_info(args.store, storage_options=args.storage_options)))
    elif args.verb == "history":
        prov = provenance_of(open_zarr(args.store, storage_options=args.storage_options))
        print(prov.in_timezone(args.tz) if args.tz else prov)
    elif args.verb == "repair":
        done = repair_store(args.store, storage_options=args.storage_options, force=args.force)
        print("\n".join(f"rolled back: {what}" for what in done) or "nothing to repair")
    elif args.verb == "copy":
        chunks = dict(args.chunks) or None
        if chunks is not None and len(chunks) != len(args.chunks):
            raise InvalidArgumentError("--chunks names a dimension twice")
        print(_copy(args, chunks))
    return 0


def _verify(args: argparse.Namespace) -> int:
    """``xzarrio verify``: the problems one line each, then what was read; 1 if any."""
    report = verify(
        args.store,
        variables=args.variable,
        quick=args.quick,
        group=args.group,
        storage_options=args.storage_options,
        num_workers=args.workers,
        progress=args.progress,
    )
    for problem in report.problems:
        print(problem)
    for note in report.unverified:
        print(f"not verified: {note}")
    print(report.summary())
    return 0 if report.ok else 1


def _keepbits(text: str) -> int | str:
    """``--keepbits``: a number of mantissa bits, or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        message = f"expected a number of bits or 'auto', got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def _copy(args: argparse.Namespace, chunks: dict[str, int] | None) -> object:
    """``xzarrio copy``: a rechunk in bounded memory, in the source's format and codecs
    unless told otherwise."""
    options = args.storage_options
    source = open_zarr(args.src, storage_options=options)
    fmt = args.zarr_format or open_root(args.src, storage_options=options).metadata.zarr_format
    return source.zio.rechunk(
        args.dst,
        chunks,
        max_mem=args.max_mem,
        mode=args.mode,
        compressor=args.compressor,
        zarr_format=fmt,
        checksums=args.checksums,
        history=args.history,
        progress=args.progress,
        storage_options=options,
        keepbits=args.keepbits,
        information=args.information,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("xzarrio: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # an object store's own errors too: one line, unless asked
        if args.traceback:
            traceback.print_exc()
        message = " ".join(str(error).split()) or type(error).__name__
        if not isinstance(error, XzarrioError | OSError | ValueError | TypeError | KeyError):
            message = f"{type(error).__name__}: {message}"
        print(f"xzarrio {args.verb}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
