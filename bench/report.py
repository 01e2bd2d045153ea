"""The benchmark's report: tables, the plot and docs/performance.md, from a result document.

A result document is the JSON that ``run.py`` writes: settings, machine, and
a flat list of records, one per (workload, server, worker count)::

    {"workload": "get", "server": "nanio", "workers": 1, "status": "ok",
     "value": 5123.4, "p99_ms": 6.1, "reason": null, "extra": {...}}

``status`` is "ok", "n/a" (the server cannot do it: ``reason`` says why) or
"failed" (something broke: ``reason`` says what).  ``value`` is in the
workload's unit.  Everything here reads only that document, so the docs can
be rebuilt from an earlier run's JSON.  matplotlib is imported only to plot.
"""

from __future__ import annotations

import datetime
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DOCS_PAGE = REPO_DIR / "docs" / "performance.md"
DOCS_PLOT = REPO_DIR / "docs" / "performance.png"
MIB_BYTES = 1024**2

OURS = "nanio"
OURS_FSYNC = "nanio-fsync"
ORIGINAL = "original"
#: No server: ``put_ceiling.py``'s receiver (read, MD5, write) for the large PUT.
CEILING = "ceiling"
#: No S3 work: ``twisted_floor.py``'s plain Twisted Site, for the small reads.
FLOOR = "floor"
#: How the floor's rows are labelled, after the workload's own label.
FLOOR_SUFFIX = " floor: plain Twisted Web, no S3 work"

#: Colours of the two servers in the plot.
OURS_COLOUR = "#2b6cb0"
ORIGINAL_COLOUR = "#a0aec0"
PLOT_DPI = 110
#: A 1-minute load average above this per CPU at start: the docs say the
#: machine was busy.
BUSY_LOAD_PER_CPU = 0.5
PLOT_WIDTH_INCHES = 11.0
PLOT_ROW_HEIGHT_INCHES = 3.8
#: A panel is at least this many bar pairs wide.
PLOT_MIN_SLOTS = 3


@dataclass(frozen=True, slots=True)
class Workload:
    """One workload: how it is named, its unit and how its figures compare."""

    key: str
    unit: str
    higher_is_better: bool
    #: A write: nanio is also run with fsync on and reported on its own row.
    writes: bool
    #: Measured with every worker count (many connections at once); the
    #: single-stream workloads run with the first worker count only.
    concurrent: bool


WORKLOADS = (
    Workload("get", "req/s", True, writes=False, concurrent=True),
    Workload("head", "req/s", True, writes=False, concurrent=True),
    Workload("put", "req/s", True, writes=True, concurrent=True),
    Workload("list", "req/s", True, writes=False, concurrent=True),
    Workload("boto3_put", "ops/s", True, writes=True, concurrent=True),
    Workload("boto3_get", "ops/s", True, writes=False, concurrent=True),
    Workload("list_tree_ttfb", "ms", False, writes=False, concurrent=False),
    Workload("put_large", "MB/s", True, writes=True, concurrent=False),
    Workload("get_large", "MB/s", True, writes=False, concurrent=False),
)
WORKLOADS_BY_KEY = {workload.key: workload for workload in WORKLOADS}
#: Groups of workloads that ``--only`` names.
GROUPS: dict[str, tuple[str, ...]] = {
    "get": ("get",),
    "head": ("head",),
    "put": ("put",),
    "list": ("list",),
    "boto3": ("boto3_put", "boto3_get"),
    "tree": ("list_tree_ttfb",),
    "large": ("put_large", "get_large"),
}


def workload_label(key: str, settings: Mapping[str, Any]) -> str:
    """A workload's name in tables, with the sizes and counts of this run."""
    connections = settings.get("connections", 16)
    labels = {
        "get": f"GET 4 KiB, {connections} conn",
        "head": f"HEAD 4 KiB, {connections} conn",
        "put": f"PUT 4 KiB, {connections} conn",
        "list": f"ListObjectsV2 1,000-key page, {connections} conn",
        "boto3_put": f"boto3 {settings.get('boto3_threads', 16)} threads:"
        f" {settings.get('boto3_operations', 2000):,} PUTs 4 KiB",
        "boto3_get": f"boto3 {settings.get('boto3_threads', 16)} threads:"
        f" {settings.get('boto3_operations', 2000):,} GETs 4 KiB",
        "list_tree_ttfb": f"prefix listing, first page, {settings.get('tree_keys', 0):,}-key"
        " bucket: time to first byte",
        "put_large": f"PUT {settings.get('large_gib', 1):g} GiB",
        "get_large": f"GET {settings.get('large_gib', 1):g} GiB",
    }
    return labels[key]


def find(
    records: Sequence[Mapping[str, Any]], workload: str, server: str, workers: int
) -> Mapping[str, Any] | None:
    """The record of one workload, server and worker count, if it was run."""
    for record in records:
        if (
            record["workload"] == workload
            and record["server"] == server
            and record["workers"] == workers
        ):
            return record
    return None


def _ok_value(record: Mapping[str, Any] | None, field: str = "value") -> float | None:
    """A record's figure when it succeeded."""
    if record is None or record["status"] != "ok":
        return None
    value = record.get(field)
    return None if value is None else float(value)


def ratio(ours: float | None, original: float | None, higher_is_better: bool) -> float | None:
    """How many times better nanio did: a rate over a rate, or a time under a time."""
    if ours is None or original is None or ours <= 0 or original <= 0:
        return None
    return ours / original if higher_is_better else original / ours


def format_value(value: float | None, unit: str) -> str:
    """A figure with the precision its unit deserves."""
    if value is None:
        return "-"
    if unit in ("req/s", "ops/s"):
        return f"{value:,.0f}"
    if unit == "MB/s":
        return f"{value:,.1f}"
    if value < 10:
        return f"{value:.2f}"
    return f"{value:,.1f}"


def round_ratios(ours: Mapping[str, Any] | None, original: Mapping[str, Any] | None) -> list[float]:
    """The ratio of each round: nanio's n-th timed run against the original's n-th.

    The servers take turns round by round, so the n-th runs of both were
    minutes apart at most: their ratio holds even when the machine's speed
    drifts between rounds.  Empty unless both records have the same rounds.
    """
    if _ok_value(ours) is None or _ok_value(original) is None:
        return []
    assert ours is not None and original is not None
    ours_rounds = ours.get("extra", {}).get("rounds") or []
    original_rounds = original.get("extra", {}).get("rounds") or []
    if len(ours_rounds) != len(original_rounds):
        return []
    pairs = zip(ours_rounds, original_rounds, strict=True)
    ratios = [ratio(a["requests_per_second"], b["requests_per_second"], True) for a, b in pairs]
    return [value for value in ratios if value is not None]


def format_range(values: Sequence[float]) -> str:
    """Ratios as ``2.10-2.45x`` (one: ``2.10x``), or "-" for none."""
    if not values:
        return "-"
    low, high = min(values), max(values)
    if len(values) == 1:
        return format_ratio(low)
    return f"{low:.2f}-{high:.2f}x"


def format_ratio(value: float | None) -> str:
    """A ratio as ``2.35x`` or "-"."""
    return "-" if value is None else f"{value:.2f}x"


def cell(record: Mapping[str, Any] | None, unit: str, field: str = "value") -> str:
    """What a table shows for one record: its figure, "n/a", "failed" or "-"."""
    if record is None:
        return "-"
    if record["status"] == "n/a":
        return "n/a"
    if record["status"] != "ok":
        return "failed"
    value = record.get(field)
    return format_value(None if value is None else float(value), unit)


@dataclass(frozen=True, slots=True)
class Table:
    """A titled table: header and rows of cells."""

    title: str
    header: list[str]
    rows: list[list[str]]


def _ours_rows(workload: Workload) -> list[tuple[str, str]]:
    """(nanio server key, row suffix) for the rows a workload gets."""
    rows = [(OURS, " (nanio --no-fsync)" if workload.writes else "")]
    if workload.writes:
        rows.append((OURS_FSYNC, " (nanio fsync on)"))
    return rows


def _compared_rows(
    records: Sequence[Mapping[str, Any]], workload: Workload, workers: int
) -> list[tuple[str, str]]:
    """(server key, row suffix) for every row a workload gets against the original."""
    rows = _ours_rows(workload)
    if find(records, workload.key, FLOOR, workers) is not None:
        # What Twisted alone costs: the best ratio a Twisted server could show.
        rows.append((FLOOR, FLOOR_SUFFIX))
    return rows


def concurrent_table(document: Mapping[str, Any], workers: int) -> Table:
    """Rates and p99 latencies of the concurrent workloads at one worker count."""
    records = document["records"]
    settings = document["settings"]
    rows: list[list[str]] = []
    for workload in WORKLOADS:
        if not workload.concurrent or workload.key not in settings["workloads"]:
            continue
        original = find(records, workload.key, ORIGINAL, workers)
        for server, suffix in _compared_rows(records, workload, workers):
            ours = find(records, workload.key, server, workers)
            rows.append(
                [
                    workload_label(workload.key, settings) + suffix,
                    cell(ours, workload.unit),
                    cell(original, workload.unit),
                    format_ratio(ratio(_ok_value(ours), _ok_value(original), True)),
                    format_range(round_ratios(ours, original)),
                    cell(ours, "ms", "p99_ms"),
                    cell(original, "ms", "p99_ms"),
                    format_ratio(
                        ratio(_ok_value(ours, "p99_ms"), _ok_value(original, "p99_ms"), False)
                    ),
                ]
            )
    plural = "worker" if workers == 1 else "workers"
    return Table(
        title=f"{workers} {plural} per server: requests (or operations) per second and p99 latency"
        " (medians of the rounds)",
        header=[
            "workload",
            "nanio /s",
            "original /s",
            "ratio",
            "ratio by round",
            "nanio p99 ms",
            "original p99 ms",
            "p99 ratio",
        ],
        rows=rows,
    )


def single_stream_table(document: Mapping[str, Any]) -> Table:
    """The one-request-at-a-time workloads: listing TTFB and the large object."""
    records = document["records"]
    settings = document["settings"]
    workers = settings["workers"][0]
    rows: list[list[str]] = []
    for workload in WORKLOADS:
        if workload.concurrent or workload.key not in settings["workloads"]:
            continue
        original = find(records, workload.key, ORIGINAL, workers)
        for server, suffix in _ours_rows(workload):
            ours = find(records, workload.key, server, workers)
            rows.append(
                [
                    f"{workload_label(workload.key, settings)}{suffix}, {workload.unit}",
                    cell(ours, workload.unit),
                    cell(original, workload.unit),
                    format_ratio(
                        ratio(_ok_value(ours), _ok_value(original), workload.higher_is_better)
                    ),
                    _peak_cell(ours),
                    _peak_cell(original),
                ]
            )
        ceiling = find(records, workload.key, CEILING, workers)
        if ceiling is not None:
            # The most any server could reach here, and so the best ratio one could show.
            rows.append(
                [
                    f"{workload_label(workload.key, settings)} ceiling: no server, only"
                    f" read + MD5 + write, {workload.unit}",
                    cell(ceiling, workload.unit),
                    cell(original, workload.unit),
                    format_ratio(ratio(_ok_value(ceiling), _ok_value(original), True)),
                    "-",
                    "-",
                ]
            )
    return Table(
        title=f"one request at a time ({workers} worker{'s' if workers != 1 else ''}):"
        " listing time to first byte (lower is better) and large-object throughput",
        header=[
            "workload",
            "nanio",
            "original",
            "ratio",
            "nanio peak RSS MiB",
            "original peak RSS MiB",
        ],
        rows=rows,
    )


def _peak_cell(record: Mapping[str, Any] | None) -> str:
    """A record's server peak RSS in MiB, or "-"."""
    peak = _extra_value(record, "peak_rss_bytes")
    return "-" if peak is None else f"{peak / MIB_BYTES:.1f}"


def _each_run_workload(
    document: Mapping[str, Any], wanted: Callable[[Workload], bool]
) -> Iterator[tuple[int, Workload, Mapping[str, Any] | None]]:
    """(worker count, workload, the original's record) of every wanted workload the run had."""
    settings = document["settings"]
    for workers in settings["workers"]:
        for workload in WORKLOADS:
            if wanted(workload) and workload.key in settings["workloads"]:
                yield workers, workload, find(document["records"], workload.key, ORIGINAL, workers)


def cpu_table(document: Mapping[str, Any]) -> Table:
    """Server CPU microseconds per request of the concurrent workloads (user + system)."""
    records = document["records"]
    settings = document["settings"]
    rows: list[list[str]] = []
    for workers, workload, original in _each_run_workload(document, lambda w: w.concurrent):
        original_cpu = _extra_value(original, "server_cpu_us_per_request")
        for server, suffix in _compared_rows(records, workload, workers):
            ours_cpu = _extra_value(
                find(records, workload.key, server, workers), "server_cpu_us_per_request"
            )
            rows.append(
                [
                    f"{workload_label(workload.key, settings)}{suffix}, {workers}w",
                    format_value(ours_cpu, "us"),
                    format_value(original_cpu, "us"),
                    format_ratio(ratio(ours_cpu, original_cpu, False)),
                ]
            )
    return Table(
        title="server CPU time per request, microseconds (user + system, all processes;"
        " steadier than wall-clock rates on a busy machine)",
        header=["workload", "nanio us", "original us", "ratio"],
        rows=rows,
    )


def client_table(document: Mapping[str, Any]) -> Table:
    """The boto3 client's own CPU: how busy its one core was, and its CPU per operation."""
    records = document["records"]
    settings = document["settings"]
    rows: list[list[str]] = []
    for workers, workload, original in _each_run_workload(
        document, lambda w: w.key.startswith("boto3")
    ):
        for server, suffix in _ours_rows(workload):
            ours = find(records, workload.key, server, workers)
            rows.append(
                [
                    f"{workload_label(workload.key, settings)}{suffix}, {workers}w",
                    _share_cell(_extra_value(ours, "client_cpu_share")),
                    _share_cell(_extra_value(original, "client_cpu_share")),
                    format_value(_extra_value(ours, "client_cpu_us_per_operation"), "us"),
                    format_value(_extra_value(original, "client_cpu_us_per_operation"), "us"),
                ]
            )
    return Table(
        title="the boto3 client's own CPU: how busy its one core was, and its CPU per operation"
        " (near 100%: the client, not the server, set the rate)",
        header=[
            "workload",
            "client busy, nanio",
            "client busy, original",
            "client us per op, nanio",
            "client us per op, original",
        ],
        rows=rows,
    )


def _extra_value(record: Mapping[str, Any] | None, name: str) -> float | None:
    """A figure from an ok record's ``extra``, or None."""
    if record is None or record["status"] != "ok":
        return None
    value = record.get("extra", {}).get(name)
    return None if value is None else float(value)


def _share_cell(share: float | None) -> str:
    """A fraction as a whole percentage, or "-"."""
    return "-" if share is None else f"{share:.0%}"


def tables(document: Mapping[str, Any]) -> list[Table]:
    """Every table of the report, in order, leaving out empty ones."""
    settings = document["settings"]
    result = [concurrent_table(document, workers) for workers in settings["workers"]]
    result.append(single_stream_table(document))
    result.append(cpu_table(document))
    result.append(client_table(document))
    return [table for table in result if table.rows]


def render_text(table: Table) -> str:
    """A table as aligned plain text."""
    everything = [table.header, *table.rows]
    widths = [max(len(row[i]) for row in everything) for i in range(len(table.header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [text.rjust(width) for text, width in zip(cells[1:], widths[1:], strict=True)]
        return " | ".join([first, *rest])

    separator = "-+-".join("-" * width for width in widths)
    return "\n".join([table.title, line(table.header), separator, *map(line, table.rows)])


def render_markdown(table: Table) -> str:
    """A table as a Markdown pipe table under a bold title."""
    lines = [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(table.header) + " |")
    lines.append("| --- |" + " ---: |" * (len(table.header) - 1))
    for row in table.rows:
        lines.append("| " + " | ".join(text.replace("|", "\\|") for text in row) + " |")
    return "\n".join(lines)


RATIO_NOTE = (
    "ratio: how many times better nanio did than the original (> 1: nanio is better):"
    " nanio/original for rates, original/nanio for times and latencies. n/a: the server"
    " cannot do it; failed: the run broke (see the JSON); -: not run. ratio by round: the"
    " lowest and highest ratio of one round's nanio run to the same round's original run."
)


@dataclass(frozen=True, slots=True)
class Panel:
    """One chart of the plot: grouped bars, nanio beside the original."""

    title: str
    labels: list[str]
    ours: list[float]
    original: list[float]
    unit: str


def plot_panels(document: Mapping[str, Any]) -> list[list[Panel]]:
    """The plot's rows of panels: rates per worker count, then the one-at-a-time workloads."""
    settings = document["settings"]
    rates: list[Panel] = []
    for workers in settings["workers"]:
        keys = [workload.key for workload in WORKLOADS if workload.concurrent]
        labels, ours, original = _bars(document, keys, workers)
        if labels:
            plural = "worker" if workers == 1 else "workers"
            rates.append(Panel(f"{workers} {plural} per server", labels, ours, original, "/s"))
    singles: list[Panel] = []
    for unit, keys, title in (
        ("MB/s", ["put_large", "get_large"], f"{settings.get('large_gib', 1):g} GiB object"),
        (
            "ms",
            ["list_tree_ttfb"],
            f"prefix listing in {settings.get('tree_keys', 0):,} keys:\n"
            "time to first byte (lower is better)",
        ),
    ):
        labels, ours, original = _bars(document, keys, settings["workers"][0])
        if labels:
            singles.append(Panel(title, labels, ours, original, unit))
    return [row for row in (rates, singles) if row]


def plot(document: Mapping[str, Any], path: Path) -> Path:
    """Draw requests per second per workload, nanio beside the original, into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = plot_panels(document)
    if not rows:
        raise ValueError("nothing to plot: no workload succeeded")
    figure = plt.figure(
        figsize=(PLOT_WIDTH_INCHES, PLOT_ROW_HEIGHT_INCHES * len(rows) + 0.9),
        layout="constrained",
    )
    outer = figure.add_gridspec(len(rows), 1)
    first_axes = None
    for row_index, row in enumerate(rows):
        inner = outer[row_index].subgridspec(
            1, len(row), width_ratios=[max(len(panel.labels), 3) for panel in row]
        )
        for column, panel in enumerate(row):
            axes = figure.add_subplot(inner[0, column])
            first_axes = first_axes or axes
            _draw_panel(axes, panel)
    assert first_axes is not None
    handles, names = first_axes.get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncol=2, fontsize=9, frameon=False)
    settings = document["settings"]
    stamp = document.get("started_utc", "")
    quick = ", a --quick run: short and noisy" if settings.get("quick") else ""
    figure.suptitle(
        f"nanio vs the original nanio 0.1.7 on loopback ({stamp}{quick})\n"
        "above each pair: how many times better nanio did",
        fontsize=10,
    )
    figure.savefig(path, dpi=PLOT_DPI)
    plt.close(figure)
    return path


def _draw_panel(axes: Any, panel: Panel) -> None:
    """Grouped bars of one panel, each pair labelled with nanio's ratio."""
    positions = list(range(len(panel.labels)))
    width = 0.4
    axes.bar(
        [p - width / 2 for p in positions], panel.ours, width, label="nanio", color=OURS_COLOUR
    )
    axes.bar(
        [p + width / 2 for p in positions],
        panel.original,
        width,
        label="original 0.1.7",
        color=ORIGINAL_COLOUR,
    )
    higher_is_better = panel.unit != "ms"
    for position, ours, original in zip(positions, panel.ours, panel.original, strict=True):
        value = ratio(ours or None, original or None, higher_is_better)
        if value is not None:
            axes.annotate(
                f"{value:.1f}x",
                (position, max(ours, original)),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                fontsize=8,
            )
    axes.set_title(panel.title, fontsize=10)
    axes.set_ylabel("requests or operations per second" if panel.unit == "/s" else panel.unit)
    axes.set_xticks(positions)
    axes.set_xticklabels(panel.labels, rotation=30, ha="right", fontsize=8)
    # A panel with one or two pairs keeps bars of the same width as the others.
    pad = max(0.0, (PLOT_MIN_SLOTS - len(positions)) / 2)
    axes.set_xlim(-0.6 - pad, len(positions) - 0.4 + pad)
    axes.margins(y=0.15)
    axes.grid(axis="y", alpha=0.3)


def _bars(
    document: Mapping[str, Any], keys: Sequence[str], workers: int
) -> tuple[list[str], list[float], list[float]]:
    """Bar labels and heights (nanio, original) of the workloads that have a figure."""
    settings = document["settings"]
    records = document["records"]
    labels: list[str] = []
    ours_values: list[float] = []
    original_values: list[float] = []
    for key in keys:
        if key not in settings["workloads"]:
            continue
        original = _ok_value(find(records, key, ORIGINAL, workers))
        for server, _suffix in _ours_rows(WORKLOADS_BY_KEY[key]):
            ours = _ok_value(find(records, key, server, workers))
            if ours is None and original is None:
                continue
            labels.append(_short_label(key) + (" fsync" if server == OURS_FSYNC else ""))
            ours_values.append(ours or 0.0)
            original_values.append(original or 0.0)
    return labels, ours_values, original_values


def _short_label(key: str) -> str:
    """A workload's name under a bar."""
    return {
        "get": "GET 4 KiB",
        "head": "HEAD 4 KiB",
        "put": "PUT 4 KiB",
        "list": "LIST 1,000",
        "boto3_put": "boto3 PUT",
        "boto3_get": "boto3 GET",
        "list_tree_ttfb": "prefix list TTFB",
        "put_large": "PUT",
        "get_large": "GET",
    }[key]


def _machine_lines(machine: Mapping[str, Any]) -> list[str]:
    """The machine as Markdown list items."""
    memory = machine.get("memory_total_bytes")
    load_start = machine.get("load_average_at_start")
    load_end = machine.get("load_average_at_end")
    dirty = (
        " with uncommitted changes to nanio/" if machine.get("checkout_differs_from_commit") else ""
    )
    return [
        f"- CPU: {machine.get('cpu_model', '?')}, {machine.get('logical_cores', '?')} logical"
        f" cores{f', {memory / 1024**3:.0f} GiB of memory' if memory else ''}",
        f"- kernel {machine.get('kernel', '?')}; Python {machine.get('python_nanio', '?')}"
        f" (nanio) and {machine.get('python_original', '?')} (original)",
        f"- load average (1, 5, 15 min) at start {load_start}, at end {load_end}",
        f"- pinning: {machine.get('pinning', '?')}",
        f"- nanio: {machine.get('nanio_version', '?')}, commit"
        f" `{str(machine.get('checkout_git_commit', '?'))[:12]}`{dirty};"
        f" original: {machine.get('original_version', '?')}",
        f"- load generators: {machine.get('wrk', '?')}; headload built with"
        f" {machine.get('cc', '?')}; {str(machine.get('curl', '?')).split(' (')[0]}",
        f"- data directories: {filesystem_text(machine.get('work_dir_filesystem'))}",
    ]


def filesystem_text(filesystem: Mapping[str, Any] | None) -> str:
    """The file system under the servers' data, in words: type, journal, mount options."""
    if not filesystem:
        return "file system not known"
    journal = {True: " with a journal", False: " without a journal"}.get(
        filesystem.get("journal"), ""
    )
    return (
        f"{filesystem.get('type', '?')}{journal} on {filesystem.get('device', '?')},"
        f" mounted at {filesystem.get('mount_point', '?')} ({filesystem.get('options', '?')})"
    )


def docs_page(document: Mapping[str, Any], plot_name: str, json_shown: str) -> str:
    """The text of docs/performance.md for one result document."""
    settings = document["settings"]
    quick_warning = (
        "\n> **These figures come from a `--quick` run** (short runs, a smaller key tree and"
        " object, on a machine shared with other work): they show the harness works and the"
        " rough shape, not figures to quote. The full run's command is below.\n"
        if settings.get("quick")
        else ""
    )
    machine = document.get("machine", {})
    load = machine.get("load_average_at_start")
    cores = machine.get("logical_cores") or 1
    busy_warning = (
        f"\n> The machine was busy when these figures were taken (1-minute load average"
        f" {load[0]:.2f} at start on {cores} cores: other work, or an earlier run that had"
        " just ended): the wall-clock rates and latencies are noisy; the"
        " server-CPU-per-request table is the steadier comparison.\n"
        if load and load[0] > BUSY_LOAD_PER_CPU * cores
        else ""
    )
    parts = [
        "# Performance: nanio against the original nanio 0.1.7",
        "",
        "This page is written by `bench/run.py --write-docs`; do not edit it by hand. How the"
        " harness works, and every option, is in [bench/README.md](../bench/README.md).",
        quick_warning,
        busy_warning,
        "## The latest figures",
        "",
        f"Measured {document.get('started_utc', '?')} (UTC) with:",
        "",
        "```bash",
        str(document.get("command", "?")),
        "```",
        "",
        *_machine_lines(document.get("machine", {})),
        f"- raw figures: `{json_shown}`",
        "",
        f"![requests per second per workload, nanio beside the original]({plot_name})",
        "",
        RATIO_NOTE,
        "",
    ]
    for table in tables(document):
        parts.extend([render_markdown(table), ""])
    parts.extend(
        [
            "## How they were measured",
            "",
            "- The servers run on loopback, each on a fresh data dir filled with the same"
            " objects. With one worker the server is pinned to one CPU and the load generator to"
            " another; with two workers the server may use both CPUs and shares one with the"
            " load generator.",
            "- For the GET, HEAD, PUT, listing and boto3 loads every server of a worker count is"
            " started first; then each load runs"
            f" {settings.get('rounds', 1)} round(s) per server ({settings.get('duration', '?')} s"
            " of wrk or headload; boto3: its PUTs and GETs), the servers taking turns (who"
            " goes first rotates) while the others sit idle. The tables show each server's"
            " median round; CPU per request is over all its rounds. A VM's speed drifts over"
            " minutes: taking turns shifts every server's figures alike, and the range of the"
            " per-round ratios shows how far one round can be trusted.",
            "- GET, PUT and ListObjectsV2: [wrk](https://github.com/wg/wrk) with presigned SigV4"
            " URLs (`bench/wrk/presigned.lua`), so the client does no signing;"
            f" {settings.get('connections', 16)} connections, {settings.get('warmup', '?')} s"
            " of warm-up before each timed run. PUTs cycle over 64 keys. HEAD:"
            " `bench/wrk/headload.c`, a"
            " closed-loop keep-alive generator that works like wrk, because wrk 4.1 waits for"
            " the body a HEAD response announces and never completes one.",
            "- With two workers, the JSON records how each run's server CPU time split among"
            " the server's processes (`busiest_process_cpu_share`): a share near 100% means one"
            " process served every connection.",
            "- The boto3 rows are a real client's view: one boto3 client in a pool of threads"
            " (pinned to the client's CPU), its own signing and parsing included. Each of its"
            " rounds PUTs keys of its own, then GETs them. The last table shows how busy the"
            " client's one core was: near 100%, the client set the rate, and the ratio says"
            " more about boto3 than about either server (the server-CPU table says what each"
            " server spent per operation).",
            f"- The listing bucket holds {settings.get('tree_keys', 0):,} files dropped in by"
            " hand (no sidecars; both servers list such files from `stat`), 1,000 per top"
            " directory `prefix-NNN/`, 100 per `sub-NN/`; the listed prefix covers ten top"
            " directories, and the first page (1,000 keys, truncated) is timed with curl's"
            " `time_starttransfer`: the median of several requests after a first one.",
            "- The large object: `bench/large_objects.py`'s transfer with curl and presigned"
            " URLs, the median of its repeats; each timed PUT stores a new object (the one"
            " before is deleted first, untimed: overwrites made every other upload fill"
            " memory the VM had to supply afresh); timed GETs go to `/dev/null` (one more,"
            " untimed, is saved and checked against the source); peak RSS is the server's"
            " `VmHWM`. The PUT"
            " *ceiling* row is no server at all (`bench/put_ceiling.py`): a receiver pinned"
            " where the servers run that only reads the upload from the socket, feeds it to"
            " MD5 (which every S3 server must, for the ETag) and writes it to a new file on the"
            " same disk. No server can be faster than that on this machine, so its ratio is"
            " the best any server could show against the original.",
            "- The GET and HEAD *floor* rows are no S3 server either (`bench/twisted_floor.py`):"
            " a stock Twisted Web `Site`, one process pinned where the servers run, whose leaf"
            " resource answers every GET and HEAD with the headers and 4 KiB body of an S3"
            " object, made once at start: no signature check, no routing, no file system, no"
            " log. It is what Twisted Web and loopback TCP alone cost per request here, so its"
            " ratio bounds the ratio nanio, built on Twisted, can show against the original.",
            "- **fsync**: the original fsyncs each object's file and JSON sidecar before renaming"
            " them (not the directories). nanio is shown with `--no-fsync` and, on its own rows,"
            " with fsync on (file, sidecar and directories): compare the fsync-on rows for like"
            " against like.",
            "- **The file system** under the data directories is named in the machine list."
            " Besides the server's own work, a 4 KiB PUT over an existing key costs two file"
            " creates and frees two files' blocks, which cost what the file system makes them"
            " cost: an ext4 without a journal scans past recently freed inodes on every"
            " create, and one mounted with `discard` waits for the disk on every freed block."
            " bench/README.md shows how to run on another file system.",
            "- Nothing in the test suite asserts a speed; this harness only reports.",
            "",
            "## Reproducing",
            "",
            "```bash",
            "apt-get install wrk gcc curl      # the load generators",
            ".venv/bin/pip install -r bench/requirements.txt",
            ".venv/bin/python bench/run.py --write-docs",
            "```",
            "",
            "The full run takes about 12 minutes on a 2-core VM, plus about 2 minutes the first"
            " time to make the 1,000,000-file tree (kept in the work dir for later runs) and"
            " the time pip needs for the original's virtualenv. `--quick` takes about 5 minutes.",
            "",
        ]
    )
    return "\n".join(parts)


def write_docs(
    document: Mapping[str, Any],
    plot_path: Path,
    json_path: Path,
    page: Path = DOCS_PAGE,
    page_plot: Path = DOCS_PLOT,
) -> Path:
    """Copy the plot beside the docs page and write the page for this document."""
    page.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plot_path, page_plot)
    try:
        json_shown = str(json_path.resolve().relative_to(REPO_DIR))
    except ValueError:
        json_shown = str(json_path)
    page.write_text(docs_page(document, page_plot.name, json_shown), encoding="utf-8")
    return page


def utc_stamp(now: datetime.datetime) -> str:
    """A file-name-safe UTC timestamp."""
    return now.strftime("%Y-%m-%dT%H%M%SZ")
