"""The profile as pictures: a bokeh page to explore, a static figure for a paper.

Both draw one row per worker thread and one bar per task, coloured by task
kind (dask's ``key_split`` of the key) with a legend; the kinds past the
ninth most expensive share one grey, "(other kinds)". Under the tasks: CPU use and
resident memory over the same time axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask.utils import key_split

__all__ = ["TaskBar", "bars_of", "bokeh_layout", "draw_figure"]

#: one colour per kind, the most expensive first (Tableau 10, as bokeh's
#: Category10 and matplotlib's tab10 have it), grey for the rest
KIND_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf",
)  # fmt: skip
OTHER_COLOUR = "#7f7f7f"


@dataclass(frozen=True)
class TaskBar:
    """One task: the thread row it ran on, when, its kind and its chunk."""

    row: int
    start: float
    end: float
    #: the kind as the legend shows it ("other" past the ninth), and its own
    kind: str
    chunk: str
    task_kind: str = ""


def bars_of(results: Sequence[Any], start_time: float) -> tuple[list[TaskBar], dict[str, str]]:
    """The tasks of a Profiler's *results* as bars (times from *start_time*), and the
    colour of every kind shown in the legend, the most expensive kind first."""
    threads = sorted({task.worker_id for task in results}, key=str)
    rows = {worker: n for n, worker in enumerate(threads)}
    spent: dict[str, float] = {}
    for task in results:
        kind = key_split(task.key)
        spent[kind] = spent.get(kind, 0.0) + task.end_time - task.start_time
    ranked = sorted(spent, key=lambda k: -spent[k])
    colours = dict(zip(ranked, KIND_COLOURS, strict=False))
    bars = [
        TaskBar(
            row=rows[task.worker_id],
            start=task.start_time - start_time,
            end=task.end_time - start_time,
            kind=key_split(task.key) if key_split(task.key) in colours else _OTHERS,
            chunk=_chunk_of(task.key),
            task_kind=key_split(task.key),
        )
        for task in results
    ]
    if len(ranked) > len(colours):
        colours[_OTHERS] = OTHER_COLOUR
    return bars, colours


#: the legend's name for the kinds past the ninth (not a name dask gives a kind)
_OTHERS = "(other kinds)"


def _chunk_of(key: Any) -> str:
    """The chunk a task works on: the block indices of its key, if it has them."""
    if isinstance(key, tuple) and len(key) > 1:
        return "(" + ", ".join(str(i) for i in key[1:]) + ")"
    return "-"


def bokeh_layout(profilers: Sequence[Any]) -> Any:
    """The bokeh page: tasks by kind with a legend and a readable hover, then CPU and
    memory, on one time axis."""
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, HoverTool, Range1d
    from bokeh.plotting import figure
    from dask.diagnostics.profile_visualize import plot_resources

    tasks, resources = profilers[:2]
    start = min([t.start_time for t in tasks.results], default=0.0)
    end = max([t.end_time for t in tasks.results], default=1.0)
    bars, colours = bars_of(tasks.results, start)
    shared = Range1d(start=0, end=max(end - start, 1e-3))
    rows = max([b.row for b in bars], default=0) + 1
    tasks_plot = figure(
        title="Tasks, by kind", x_range=shared, y_range=Range1d(start=-0.5, end=rows - 0.5),
        width=900, height=max(200, 40 * rows + 120), tools="xpan,xwheel_zoom,reset,save",
        toolbar_location="above", x_axis_label="time (s)", y_axis_label="thread",
    )  # fmt: skip
    for kind, colour in colours.items():
        mine = [b for b in bars if b.kind == kind]
        data = {
            "left": [b.start for b in mine], "right": [b.end for b in mine],
            "bottom": [b.row - 0.4 for b in mine], "top": [b.row + 0.4 for b in mine],
            "kind": [b.task_kind for b in mine], "ms": [1e3 * (b.end - b.start) for b in mine],
            "chunk": [b.chunk for b in mine],
        }  # fmt: skip
        tasks_plot.quad(
            source=ColumnDataSource(data), color=colour, line_color="white", legend_label=kind
        )
    tasks_plot.add_tools(
        HoverTool(tooltips=[("kind", "@kind"), ("duration", "@ms{0.000} ms"), ("chunk", "@chunk")])
    )
    tasks_plot.legend.location = "top_left"
    tasks_plot.legend.click_policy = "hide"
    usage = plot_resources(resources.results, start, end, width=900, height=250)
    usage.x_range = shared
    return column(tasks_plot, usage)


def draw_figure(profilers: Sequence[Any], path: Path) -> Path:
    """The static picture, PNG or SVG by *path*'s suffix, drawn by matplotlib without a
    display (no pyplot)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    tasks, resources = profilers[:2]
    start = min([t.start_time for t in tasks.results], default=0.0)
    bars, colours = bars_of(tasks.results, start)
    figure = Figure(figsize=(9, 5), layout="constrained")
    top, cpu = figure.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    for bar in bars:
        top.barh(bar.row, bar.end - bar.start, left=bar.start, height=0.8,
                 color=colours[bar.kind], edgecolor="white", linewidth=0.5)  # fmt: skip
    top.set_ylabel("thread")
    top.set_yticks(sorted({b.row for b in bars}))
    top.set_title("tasks, by kind")
    top.legend(
        handles=[Patch(color=c, label=k) for k, c in colours.items()], loc="upper left",
        bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False,
    )  # fmt: skip
    times = [sample.time - start for sample in resources.results]
    cpu.plot(times, [sample.cpu for sample in resources.results], color="#1f77b4")
    cpu.set_ylabel("CPU (%)", color="#1f77b4")
    cpu.set_xlabel("time (s)")
    memory = cpu.twinx()
    memory.plot(times, [sample.mem for sample in resources.results], color="#ff7f0e")
    memory.set_ylabel("memory (MB)", color="#ff7f0e")
    figure.savefig(path, dpi=150)
    return path
