"""The bad-input catalog: each refused input raises its error and changes nothing on disk."""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path

import pytest

from xzarrio import options
from xzarrio.errors import XzarrioError

from .bad_inputs import CATALOG, DOC, BadInput, capture_message, render_table, split_doc
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
