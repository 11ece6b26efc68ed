"""The real ``xzarrio`` console script, run in a subprocess."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

import xzarrio

from .conftest import snapshot

SCRIPT = shutil.which("xzarrio", path=str(Path(sys.executable).parent)) or shutil.which("xzarrio")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT, "the xzarrio console script is not installed"
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    ds = xr.Dataset({"wvel": (("y", "x"), np.arange(600.0, dtype="f4").reshape(30, 20))})
    ds.zio.to_zarr(tmp_path / "src.zarr", chunks={"y": 10}, history="for the command line")
    return tmp_path / "src.zarr"


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"xzarrio {xzarrio.__version__}"


def test_info(store: Path) -> None:
    result = run("info", str(store))
    assert result.returncode == 0, result.stderr
    assert "wvel" in result.stdout and "30 × 20" in result.stdout and "3/3" in result.stdout


def test_history_in_a_time_zone(store: Path) -> None:
    result = run("history", str(store), "--tz", "Asia/Kolkata")
    assert result.returncode == 0, result.stderr
    assert "+05:30" in result.stdout and "for the command line" in result.stdout


def test_copy_rechunks_recompresses_and_extends_history(store: Path, tmp_path: Path) -> None:
    dst = tmp_path / "dst.zarr"
    result = run(
        "copy",
        str(store),
        str(dst),
        "--chunks",
        "y=5",
        "--compressor",
        "gzip",
        "--history",
        "rechunked",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    array = zarr.open_array(dst / "wvel")
    assert array.chunks == (5, 20) and type(array.compressors[0]).__name__ == "GzipCodec"
    np.testing.assert_array_equal(array[:], zarr.open_array(store / "wvel")[:])
    history = xzarrio.open_zarr(dst).zio.provenance.history
    assert "rechunked" in history[0].text and "for the command line" in history[1].text
    assert "Completed" not in result.stderr


def test_copy_rechunks_across_within_max_mem(tmp_path: Path) -> None:
    rows = xr.Dataset({"wvel": (("y", "x"), np.arange(4800.0, dtype="f4").reshape(120, 40))})
    rows.zio.to_zarr(tmp_path / "rows.zarr", chunks={"y": 2})
    dst = tmp_path / "columns.zarr"
    result = run(
        "copy", str(tmp_path / "rows.zarr"), str(dst), "--chunks", "y=-1", "--chunks", "x=4",
        "--max-mem", "16KiB", "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert zarr.open_array(dst / "wvel").chunks == (120, 4)
    np.testing.assert_array_equal(zarr.open_array(dst / "wvel")[:], rows["wvel"].values)
    assert "zio.rechunk(" in xzarrio.open_zarr(dst).zio.provenance.history[0].text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["columns.zarr", "rows.zarr"]


@pytest.mark.parametrize(
    ("max_mem", "message"),
    [("lots", "max_mem='lots' is not a size"), ("1KiB", "more than max_mem=1.00 kiB")],
)
def test_copy_with_a_bad_max_mem_is_one_line(
    store: Path, tmp_path: Path, max_mem: str, message: str
) -> None:
    result = run("copy", str(store), str(tmp_path / "dst.zarr"), "--max-mem", max_mem)
    assert result.returncode == 1
    assert result.stderr.startswith("xzarrio copy: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "dst.zarr").exists()


def test_copy_progress_bar_on_stderr(store: Path, tmp_path: Path) -> None:
    result = run("copy", str(store), str(tmp_path / "dst.zarr"))
    assert result.returncode == 0 and "100% Completed" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["info", "{tmp}/nowhere.zarr"],
            "xzarrio info: error: no zarr store at",
            id="info-missing",
        ),
        pytest.param(["history", "{tmp}"], "xzarrio history: error: '", id="history-not-zarr"),
        pytest.param(
            ["history", "{store}", "--tz", "Mars/Olympus"],
            "unknown time zone 'Mars/Olympus'",
            id="bad-tz",
        ),
        pytest.param(
            ["copy", "{store}", "{store}"], "a store already exists at", id="copy-onto-existing"
        ),
        pytest.param(
            ["copy", "{store}", "{tmp}/d.zarr", "--chunks", "depth=3"],
            "chunks names dimension 'depth'",
            id="copy-unknown-dim",
        ),
        pytest.param(
            ["copy", "{store}", "{tmp}/d.zarr", "--chunks", "y=0"],
            "must be an integer >= 1, -1 (the whole dimension) or None (its current chunks), got 0",
            id="copy-zero-chunk",
        ),
        pytest.param(
            ["copy", "{tmp}/nowhere.zarr", "{tmp}/d.zarr"],
            "no zarr store at",
            id="copy-missing-source",
        ),
    ],
)
def test_errors_are_one_line_and_change_nothing(
    store: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    before = snapshot(tmp_path)
    result = run(*(a.format(tmp=tmp_path, store=store) for a in args))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1
    assert snapshot(tmp_path) == before


def test_usage_errors_exit_2() -> None:
    result = run("copy", "only-one-arg")
    assert result.returncode == 2 and "usage:" in result.stderr


def test_demo_runs_every_step_and_saves_the_pictures(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = run(
        "demo", "--shape", "400,300", "--chunks", "100", "--workers", "2", "--dir", str(folder)
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for step in (
        "== data",
        "== write",
        "== provenance",
        "== a field of zeros",
        "== lazy reopen",
        "== chunk-wise copy",
        "== storage report",
        "== integrity",
        "== profiled reduction",
        "== pictures",
    ):
        assert step in out, step
    assert "written for practice" in out and "copied from disk1_data" in out
    assert "0 dask computes" in out
    assert "disk2_data': whole: 4 chunks of 1 variable read" in out
    assert "parallel efficiency" in out and "task kind" in out
    assert "100% Completed" in result.stderr  # the progress bar, on stderr
    page = (folder / "profile.html").read_text()
    assert "Bokeh" in page and "cdn.bokeh.org" not in page
    assert f"stores and pictures are in {folder}" in out
    assert (
        xzarrio.open_zarr(folder / "disk2_data")
        .zio.provenance.history[1]
        .text.startswith("zio.to_zarr")
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--shape", "0,5"], "--shape wants two sizes >= 1", id="zero-shape"),
        pytest.param(["--shape", "abc"], "--shape wants ROWS,COLS, got 'abc'", id="bad-shape"),
        pytest.param(
            ["--chunks", "0"], "--chunks wants rows per stored chunk >= 1, got 0", id="zero-chunks"
        ),
        pytest.param(
            ["--workers", "0"], "--workers wants an integer >= 1, got 0", id="zero-workers"
        ),
    ],
)
def test_demo_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run("demo", *args, "--dir", str(tmp_path / "demo"))
    assert result.returncode == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("verb", ["demo", "info", "history", "copy", "repair"])
def test_help_of_every_verb(verb: str) -> None:
    result = run(verb, "--help")
    assert result.returncode == 0 and result.stdout.startswith(f"usage: xzarrio {verb}")


def test_repair_with_nothing_to_repair(store: Path) -> None:
    before = snapshot(store.parent)
    result = run("repair", str(store))
    assert result.returncode == 0 and result.stdout.strip() == "nothing to repair"
    assert snapshot(store.parent) == before


def test_repair_of_a_missing_store_is_one_line(tmp_path: Path) -> None:
    result = run("repair", str(tmp_path / "nowhere.zarr"))
    assert result.returncode == 1
    assert (
        "xzarrio repair: error: no zarr store at" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_the_readmes_commands_work_where_the_demo_leaves_the_user(tmp_path: Path) -> None:
    """Each local command of the README's command-line block, run after the demo in its folder."""
    assert SCRIPT, "the xzarrio console script is not installed"
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].split() for line in block.strip().splitlines()]
    demo = subprocess.run(
        [SCRIPT, "demo", "--shape", "400,300", "--chunks", "100", "--workers", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    local = [c for c in commands[1:] if not any("://" in word for word in c)]
    assert len(local) >= 4, local
    for command in local:
        words = [word.strip("'\"") for word in command[1:]]
        done = subprocess.run([SCRIPT, *words], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stderr)


def test_an_lz4_store_says_nothing_of_the_zarr_spec_on_every_use(tmp_path: Path) -> None:
    # zarr notes that numcodecs codecs are outside the zarr 3 spec each time it reads
    # their metadata; a user who asked for lz4 is not told so on every write and open
    import warnings

    ds = xr.Dataset({"v": ("t", np.arange(100.0))}, coords={"t": np.arange(100)})
    with warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("always")
        report = ds.zio.to_zarr(tmp_path / "a.zarr", compressor="lz4", chunks={"t": 10})
        ds.isel(t=slice(0, 10)).assign_coords(t=np.arange(100, 110)).zio.to_zarr(
            tmp_path / "a.zarr", append_dim="t"
        )
        opened = xzarrio.open_zarr(tmp_path / "a.zarr")
        opened.v.values  # noqa: B018 - the chunks decoded
        xzarrio.info(tmp_path / "a.zarr")
        assert xzarrio.verify(tmp_path / "a.zarr").ok
        opened.zio.provenance  # noqa: B018
        report.open().zio.to_zarr(tmp_path / "b.zarr")
    notes = [str(w.message) for w in heard if "specification" in str(w.message)]
    assert notes == []
    for verb in ("info", "history"):
        done = run(verb, str(tmp_path / "a.zarr"))
        assert "specification" not in done.stderr, done.stderr


def test_copy_keeps_the_sources_format_and_codec(tmp_path: Path) -> None:
    import numcodecs

    ds = xr.Dataset({"v": ("t", np.arange(100.0))})
    blosc = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    ds.zio.to_zarr(tmp_path / "v2.zarr", zarr_format=2, compressor=blosc, chunks={"t": 10})
    done = run("copy", str(tmp_path / "v2.zarr"), str(tmp_path / "copy.zarr"), "--no-progress")
    assert done.returncode == 0, done.stderr
    copied = zarr.open_array(tmp_path / "copy.zarr", path="v")
    assert copied.metadata.zarr_format == 2
    assert copied.compressors == (blosc,)
    done = run("copy", str(tmp_path / "v2.zarr"), str(tmp_path / "v3.zarr"), "--zarr-format", "3")
    assert done.returncode == 0, done.stderr
    assert zarr.open_array(tmp_path / "v3.zarr", path="v").metadata.zarr_format == 3


def test_every_verb_takes_storage_options_for_an_object_store(s3_bucket: Any) -> None:
    import json

    options = json.dumps(s3_bucket.storage_options)
    url = f"{s3_bucket.url}/s.zarr"
    xr.Dataset({"v": ("t", np.arange(20.0))}).zio.to_zarr(
        url, chunks={"t": 5}, storage_options=s3_bucket.storage_options, history="on S3"
    )
    for verb in (["info", url], ["history", url], ["repair", url]):
        done = run(*verb, "--storage-options", options)
        assert done.returncode == 0, (verb, done.stderr)
    done = run("copy", url, f"{s3_bucket.url}/copy.zarr", "--storage-options", options)
    assert done.returncode == 0, done.stderr
    assert (
        "on S3" in run("history", f"{s3_bucket.url}/copy.zarr", "--storage-options", options).stdout
    )


def test_an_object_store_error_is_one_line_unless_a_traceback_is_asked_for(
    s3_bucket: Any,
) -> None:
    import json

    options = json.dumps({**s3_bucket.storage_options, "key": "wrong", "secret": "wrong"})
    missing = f"s3://no-such-bucket-{s3_bucket.name}/s.zarr"
    done = run("info", missing, "--storage-options", options)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("xzarrio info: error: ")
    done = run("info", missing, "--storage-options", options, "--traceback")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr


def test_copy_keepbits_rounds_and_info_shows_the_bits(store: Path, tmp_path: Path) -> None:
    done = run("copy", str(store), str(tmp_path / "b.zarr"), "--keepbits", "4", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "keepbits={'wvel': 4}" in done.stdout
    shown = run("info", str(tmp_path / "b.zarr"))
    assert "kept bits" in shown.stdout and "4 of 23" in shown.stdout


def test_copy_keepbits_takes_a_number_or_auto(store: Path, tmp_path: Path) -> None:
    done = run("copy", str(store), str(tmp_path / "b.zarr"), "--keepbits", "some")
    assert done.returncode == 2
    assert "expected a number of bits or 'auto', got 'some'" in done.stderr
