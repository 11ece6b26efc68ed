"""Render the suite's JSON in docs/figures/ as the tables docs/performance.rst includes.

Run from anywhere after copying a run's JSON there (``python benchmarks/run.py
--only rechunk --json docs/figures/rechunk.json``): ``python docs/render_figures.py``.
Each ``docs/figures/NAME.json`` becomes ``docs/figures/NAME.rst``: the machine,
the command, every table of the run and its goals. The tests check that the
``.rst`` files are the rendering of the JSON files beside them, so the figures
in the docs are the suite's, never typed by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"


def render(results: dict[str, Any]) -> str:
    """The reST of one run of the suite: where it ran, its tables, its goals."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import cell

    env = results["environment"]
    versions = ", ".join(f"{k} {env[k]}" for k in ("python", "numpy", "xarray", "zarr", "dask"))
    lines = [
        f"Measured by ``{results['command']}`` ({results['wall_seconds']:.0f} s) on "
        f"{env['processor']}, {env['cpus']} CPUs, {env['memory_gib']} GiB; {versions}.",
        "",
    ]
    for section in results["sections"].values():
        for tab in section["tables"]:
            lines += [f".. list-table:: {tab['title']}", "   :header-rows: 1", ""]
            for row in [tab["columns"], *tab["rows"]]:
                lines += [f"   {'*' if i == 0 else ' '} - {cell(v)}" for i, v in enumerate(row)]
            lines.append("")
    goals = [(name, g) for name, g in results["summary"].items()]
    if goals:
        lines += [".. list-table:: Goals", "   :header-rows: 1", ""]
        lines += ["   * - figure", "     - reached", "     - goal", "     -"]
        for name, goal in goals:
            met = "" if "met" not in goal else ("met" if goal["met"] else "not met")
            lines += [f"   * - {name}", f"     - {cell(goal['value'])}"]
            lines += [f"     - {goal.get('goal', '')}".rstrip(), f"     - {met}".rstrip()]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    for source in sorted(FIGURES.glob("*.json")):
        target = source.with_suffix(".rst")
        target.write_text(render(json.loads(source.read_text())), encoding="utf-8")
        print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
