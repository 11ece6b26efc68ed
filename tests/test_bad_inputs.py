"""The bad-input catalog: each refused input raises its error and changes nothing on disk."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from xzarrio import options
from xzarrio.errors import XzarrioError

from .bad_inputs import (
    CATALOG,
    DOC,
    BadInput,
    _store,
    capture_message,
    render_table,
    split_doc,
)
from .conftest import snapshot


def test_catalog_ids_are_unique() -> None:
    ids = [row.id for row in CATALOG]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("row", CATALOG, ids=[row.id for row in CATALOG])
def test_bad_input(row: BadInput, tmp_path: Path) -> None:
    row.setup(tmp_path)
    before = snapshot(tmp_path)
    settings = dict(options.OPTIONS)
    with pytest.raises(row.error, match=row.message) as caught:
        row.call(tmp_path)
    err = caught.value
    assert type(err) is row.error, f"raised {type(err).__qualname__}, the catalog says {row.error}"
    assert isinstance(err, row.builtin)
    if row.ours:
        assert isinstance(err, XzarrioError)
    else:
        assert not isinstance(err, XzarrioError), (
            f"{row.id} now raises an xzarrio error: set ours=True (and its class) in "
            "tests/bad_inputs.py, then run python docs/render_bad_inputs.py"
        )
    assert snapshot(tmp_path) == before, f"{row.id}: the bad call changed files ({row.disk!r})"
    assert options.OPTIONS == settings, f"{row.id}: the bad call changed xzarrio's options"


def test_docs_table_matches_catalog(tmp_path: Path) -> None:
    messages = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some rows warn before they raise
        for row in CATALOG:
            where = tmp_path / row.id
            where.mkdir()
            messages[row.id] = capture_message(row, where)
    expected = render_table(messages)
    _, found, _ = split_doc(DOC.read_text(encoding="utf-8"))
    if found.strip() != expected.strip():
        diff = "\n".join(
            difflib.unified_diff(
                found.strip().splitlines(),
                expected.strip().splitlines(),
                "docs/bad-inputs.md",
                "catalog",
                lineterm="",
            )
        )
        pytest.fail(
            "docs/bad-inputs.md is out of date with tests/bad_inputs.py; regenerate it with\n"
            "    python docs/render_bad_inputs.py\n" + diff,
            pytrace=False,
        )


_IN_READ_ONLY_FOLDER = """
import sys
from tests.bad_inputs import STORE, _append, _next, _part, _region
from pathlib import Path
tmp = Path(sys.argv[1])
for write in (lambda: _append(tmp, _next()), lambda: _region(tmp, _part(0, 2), {"t": slice(0, 2)})):
    try:
        write()
    except Exception as err:
        print(type(err).__name__, isinstance(err, PermissionError), err)
    else:
        print("nothing raised")
"""


def test_writes_in_a_read_only_folder_are_refused(tmp_path: Path) -> None:
    """The store's folder takes no new entries (its journal goes there): refused, unchanged.

    Root writes through ``chmod``, so the writer runs as root without the
    capability to override file permissions (``setpriv``), as a user would.
    """
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is needed to write without root's permission override")
    folder = tmp_path / "folder"
    folder.mkdir()
    _store(folder)
    folder.chmod(0o555)
    before = snapshot(tmp_path)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    try:
        done = subprocess.run(
            [*drop, sys.executable, "-c", _IN_READ_ONLY_FOLDER, str(folder)],
            capture_output=True, text=True, cwd=Path(__file__).parent.parent, check=False,
        )  # fmt: skip
    finally:
        folder.chmod(0o755)
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout + done.stderr
    for line in lines:
        assert line.startswith("StoreNotWritableError True cannot write to "), line
        assert "its folder takes no new entries (Permission denied)" in line
    assert snapshot(tmp_path) == before
