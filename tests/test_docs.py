"""The documentation builds with Sphinx, warnings as errors, and names the API as users call it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path: Path) -> None:
    pytest.importorskip("sphinx")
    # autosummary writes its stub pages into the source folder: build a copy,
    # so that running the tests leaves the checkout as it was
    source = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", source, ignore=shutil.ignore_patterns("_build", "generated"))
    html = tmp_path / "html"
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}  # this checkout's xzarrio

    sphinx_build = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html"]
    done = subprocess.run(
        [*sphinx_build, str(source), str(html)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )

    assert done.returncode == 0, f"sphinx-build failed:\n{done.stdout[-4000:]}\n{done.stderr}"
    api = (html / "api.html").read_text(encoding="utf-8")
    assert "Dataset.zio.to_zarr" in api
    assert "DataArray.zio.reduce" in api
    guarantees = (html / "guarantees.html").read_text(encoding="utf-8")
    assert "on disk afterwards" in guarantees  # the bad-input table of docs/bad-inputs.md


def test_the_figures_in_the_docs_are_the_rendering_of_the_suites_json() -> None:
    import json

    sys.path.insert(0, str(ROOT / "docs"))
    from render_figures import FIGURES, render

    runs = sorted(FIGURES.glob("*.json"))
    assert runs, "docs/figures holds no run of the suite"
    for source in runs:
        shown = source.with_suffix(".rst").read_text(encoding="utf-8")
        assert shown == render(json.loads(source.read_text())), (
            f"{source.with_suffix('.rst').name} is not the rendering of {source.name}; run "
            "python docs/render_figures.py"
        )
