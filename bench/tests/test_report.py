"""The report's tables, ratios, plot and docs page, and run.py's option parsing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import report
import run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _record(workload: str, server: str, value: float | None, **fields: Any) -> dict[str, Any]:
    """A result record as run.py makes it."""
    return run.record(
        workload,
        server,
        fields.pop("workers", 1),
        fields.pop("status", "ok"),
        value=value,
        p99_ms=fields.pop("p99_ms", None),
        reason=fields.pop("reason", None),
        extra=fields.pop("extra", None),
    )


def _document(records: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    """A result document around some records."""
    base = {
        "quick": False,
        "workloads": [workload.key for workload in report.WORKLOADS],
        "workers": [1],
        "connections": 16,
        "duration": 10,
        "tree_keys": 1_000_000,
        "large_gib": 1.0,
        "boto3_operations": 2000,
        "boto3_threads": 16,
    }
    base.update(settings)
    return {
        "started_utc": "2026-01-01T00:00:00+00:00",
        "command": ".venv/bin/python bench/run.py --write-docs",
        "settings": base,
        "machine": {"cpu_model": "Test CPU", "logical_cores": 2},
        "records": records,
    }


def test_ratio_of_rates_is_nanio_over_original() -> None:
    """For a rate, the ratio is nanio's figure over the original's."""
    assert report.ratio(300.0, 100.0, higher_is_better=True) == 3.0


def test_ratio_of_times_is_original_over_nanio() -> None:
    """For a time, the ratio is the original's figure over nanio's (> 1: nanio faster)."""
    assert report.ratio(20.0, 100.0, higher_is_better=False) == 5.0


def test_ratio_without_both_figures_is_none() -> None:
    """A missing or zero figure gives no ratio."""
    assert (report.ratio(None, 1.0, True), report.ratio(5.0, 0.0, True)) == (None, None)


def test_cell_shows_na_and_failed_for_such_records() -> None:
    """A record that is n/a or failed shows as such, never as a number."""
    unavailable = _record("put", "original", None, status="n/a", reason="no presigned PUT")
    failed = _record("put", "original", None, status="failed", reason="crash")
    assert (report.cell(unavailable, "req/s"), report.cell(failed, "req/s")) == ("n/a", "failed")


def test_concurrent_table_has_an_fsync_row_for_writes() -> None:
    """PUT gets a --no-fsync row and an fsync-on row, both against the same original."""
    document = _document(
        [
            _record("put", "nanio", 900.0, p99_ms=5.0),
            _record("put", "nanio-fsync", 300.0, p99_ms=20.0),
            _record("put", "original", 100.0, p99_ms=40.0),
        ],
        workloads=["put"],
    )
    rows = report.concurrent_table(document, 1).rows
    assert [[row[0], row[3], row[6]] for row in rows] == [
        ["PUT 4 KiB, 16 conn (nanio --no-fsync)", "9.00x", "40.0"],
        ["PUT 4 KiB, 16 conn (nanio fsync on)", "3.00x", "40.0"],
    ]


def _rounds(*rates: float) -> dict[str, Any]:
    """A load record's extra with one round per rate."""
    return {"rounds": [{"requests_per_second": rate} for rate in rates]}


def test_ratio_by_round_pairs_each_round_of_both_servers() -> None:
    """Round n of nanio is compared with round n of the original: the range of those ratios."""
    document = _document(
        [
            _record("get", "nanio", 300.0, extra=_rounds(300.0, 200.0, 330.0)),
            _record("get", "original", 100.0, extra=_rounds(100.0, 40.0, 110.0)),
        ],
        workloads=["get"],
    )
    rows = report.concurrent_table(document, 1).rows
    assert [row[3:5] for row in rows] == [["3.00x", "3.00-5.00x"]]


def test_ratio_by_round_needs_the_same_rounds_on_both_sides() -> None:
    """No range when a side has no rounds (an old result) or a different number of them."""
    ours = _record("get", "nanio", 300.0, extra=_rounds(300.0, 200.0))
    assert report.round_ratios(ours, _record("get", "original", 100.0)) == []
    uneven = _record("get", "original", 100.0, extra=_rounds(100.0))
    assert report.round_ratios(ours, uneven) == []
    failed = _record("get", "original", None, status="failed", extra=_rounds(1.0, 1.0))
    assert report.format_range(report.round_ratios(ours, failed)) == "-"


def test_single_stream_table_ratio_of_ttfb_favours_the_faster() -> None:
    """A listing TTFB of 10 ms against 50 ms reads as 5.00x for nanio."""
    document = _document(
        [
            _record("list_tree_ttfb", "nanio", 10.0),
            _record("list_tree_ttfb", "original", 50.0),
        ],
        workloads=["list_tree_ttfb"],
    )
    rows = report.single_stream_table(document).rows
    assert rows[0][1:4] == ["10.0", "50.0", "5.00x"]


def test_large_put_ceiling_gets_its_own_row_against_the_original() -> None:
    """The ceiling row shows the receiver's MB/s and its ratio to the original's."""
    document = _document(
        [
            _record("put_large", "nanio", 190.0),
            _record("put_large", "nanio-fsync", 170.0),
            _record("put_large", "original", 100.0),
            _record("put_large", "ceiling", 250.0),
        ],
        workloads=["put_large"],
    )
    rows = report.single_stream_table(document).rows
    assert len(rows) == 3
    assert "ceiling" in rows[2][0]
    assert rows[2][1:4] == ["250.0", "100.0", "2.50x"]


def test_large_put_without_a_ceiling_has_no_ceiling_row() -> None:
    """An older result (no ceiling record) keeps its two rows."""
    document = _document(
        [_record("put_large", "nanio", 190.0), _record("put_large", "original", 100.0)],
        workloads=["put_large"],
    )
    assert [row[0] for row in report.single_stream_table(document).rows] == [
        "PUT 1 GiB (nanio --no-fsync), MB/s",
        "PUT 1 GiB (nanio fsync on), MB/s",
    ]


def test_tables_leave_out_workloads_not_run() -> None:
    """With only GET run, the report has one table, with one row."""
    document = _document(
        [_record("get", "nanio", 10.0), _record("get", "original", 5.0)], workloads=["get"]
    )
    assert [len(table.rows) for table in report.tables(document)] == [1, 1]


def test_render_markdown_makes_a_pipe_table() -> None:
    """The Markdown table has a header, an alignment line and one line per row."""
    table = report.Table("T", ["a", "b"], [["x", "1"], ["y", "2"]])
    assert report.render_markdown(table).splitlines()[2:] == [
        "| a | b |",
        "| --- | ---: |",
        "| x | 1 |",
        "| y | 2 |",
    ]


def test_plot_writes_a_png(tmp_path: Path) -> None:
    """The plot of a document with figures is a PNG file."""
    document = _document(
        [
            _record("get", "nanio", 3000.0),
            _record("get", "original", 1000.0),
            _record("put_large", "nanio", 900.0),
            _record("put_large", "original", 400.0),
        ]
    )
    path = report.plot(document, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_plot_without_any_figure_is_refused(tmp_path: Path) -> None:
    """A document where nothing succeeded has nothing to plot."""
    document = _document([_record("get", "nanio", None, status="failed", reason="x")])
    with pytest.raises(ValueError, match="nothing to plot"):
        report.plot(document, tmp_path / "plot.png")


def test_write_docs_writes_the_page_and_copies_the_plot(tmp_path: Path) -> None:
    """The docs page names the command and the JSON, and the plot is copied beside it."""
    document = _document([_record("get", "nanio", 3000.0), _record("get", "original", 1000.0)])
    plot = tmp_path / "run.png"
    plot.write_bytes(PNG_SIGNATURE)
    page = report.write_docs(
        document,
        plot,
        tmp_path / "run-x.json",
        page=tmp_path / "docs" / "performance.md",
        page_plot=tmp_path / "docs" / "performance.png",
    )
    text = page.read_text(encoding="utf-8")
    assert (
        ".venv/bin/python bench/run.py --write-docs" in text,
        f"`{tmp_path / 'run-x.json'}`" in text,
        (tmp_path / "docs" / "performance.png").read_bytes(),
    ) == (True, True, PNG_SIGNATURE)


def test_docs_page_of_a_quick_run_says_so() -> None:
    """A --quick run's page warns that its figures are not to be quoted."""
    document = _document([_record("get", "nanio", 1.0)], quick=True)
    assert "--quick` run" in report.docs_page(document, "p.png", "r.json")


def test_parse_groups_expands_boto3_and_keeps_report_order() -> None:
    """--only large,boto3,get names the workloads in the report's order."""
    assert run.parse_groups("large,boto3,get") == [
        "get",
        "boto3_put",
        "boto3_get",
        "put_large",
        "get_large",
    ]


def test_parse_groups_refuses_unknown_names() -> None:
    """An unknown workload name is an argument error listing the choices."""
    with pytest.raises(argparse.ArgumentTypeError, match="choose from"):
        run.parse_groups("get,post")


def test_parse_workers_refuses_zero() -> None:
    """A worker count below 1 is an argument error."""
    with pytest.raises(argparse.ArgumentTypeError):
        run.parse_workers("1,0")


def test_quick_defaults_apply_unless_an_option_is_given() -> None:
    """--quick shortens the runs, but an explicit --duration wins."""
    arguments = run.build_parser().parse_args(["--quick", "--duration", "5"])
    settings = run.resolve_settings(arguments)
    assert (settings["duration"], settings["tree_keys"]) == (5, run.QUICK.keys)


def test_resolve_settings_refuses_a_partial_key_tree() -> None:
    """--keys that is not a multiple of 1,000 stops the run before it starts."""
    arguments = run.build_parser().parse_args(["--keys", "1500"])
    with pytest.raises(SystemExit, match="--keys"):
        run.resolve_settings(arguments)


def test_docs_page_of_a_busy_machine_says_so() -> None:
    """A run that started with a high load average warns that its figures are noisy."""
    document = _document([_record("get", "nanio", 1.0)])
    document["machine"]["load_average_at_start"] = [3.0, 2.0, 1.0]
    assert "The machine was busy" in report.docs_page(document, "p.png", "r.json")


def test_docs_page_names_the_file_system_under_the_data() -> None:
    """Small PUTs depend on the file system: the page says which one the run used."""
    document = _document([_record("put", "nanio", 1.0)])
    document["machine"]["work_dir_filesystem"] = {
        "mount_point": "/mnt/b",
        "device": "/dev/loop0",
        "type": "ext4",
        "options": "rw,relatime",
        "journal": True,
    }
    page = report.docs_page(document, "p.png", "r.json")
    assert "- data directories: ext4 with a journal on /dev/loop0, mounted at /mnt/b" in page


def _boto3_extra(client_share: float, client_us: float, server_us: float) -> dict[str, Any]:
    return {
        "client_cpu_share": client_share,
        "client_cpu_us_per_operation": client_us,
        "server_cpu_us_per_request": server_us,
    }


def _boto3_get_document() -> dict[str, Any]:
    """A run of boto3 GETs only, on both servers."""
    return _document(
        [
            _record("boto3_get", "nanio", 400.0, extra=_boto3_extra(0.97, 2400.0, 300.0)),
            _record("boto3_get", "original", 420.0, extra=_boto3_extra(0.55, 1300.0, 1200.0)),
        ],
        workloads=["boto3_get"],
    )


def test_client_table_shows_how_busy_the_boto3_client_was() -> None:
    """Each boto3 row: the client's core busy share and CPU per operation, for both servers."""
    rows = report.client_table(_boto3_get_document()).rows
    assert [row[1:] for row in rows] == [["97%", "55%", "2,400.0", "1,300.0"]]


def test_cpu_table_has_the_boto3_rows_as_well() -> None:
    """Server CPU per operation of the boto3 runs, against the original's."""
    rows = report.cpu_table(_boto3_get_document()).rows
    assert [row[1:] for row in rows] == [["300.0", "1,200.0", "4.00x"]]


def test_client_table_is_left_out_without_boto3_runs() -> None:
    """A run without the boto3 pool has no client table."""
    document = _document([_record("get", "nanio", 300.0)], workloads=["get"])
    titles = [table.title for table in report.tables(document)]
    assert not any("boto3 client" in title for title in titles)
