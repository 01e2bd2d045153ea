"""
Polars against a real server.

Polars reaches S3 through Rust's ``object_store`` crate (also under delta-rs
and DataFusion): a fourth SDK family after botocore, Go and the AWS SDK for
C++, with its own signer, ranged reads, listings for globs, and multipart
uploads for large writes.  Data frames are what people store with it, so
they are what is written and read.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from tests.support.server import REGION, RunningServer

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def storage_options(server: RunningServer) -> dict[str, str]:
    """object_store's options for the server (plain HTTP must be allowed by name)."""
    return {
        "aws_access_key_id": server.access_key,
        "aws_secret_access_key": server.secret_key,
        "aws_endpoint_url": server.endpoint_url,
        "aws_region": REGION,
        "aws_allow_http": "true",
    }


def sample_frame(rows: int, start: int = 0) -> pl.DataFrame:
    """``rows`` rows: an integer column and a string column."""
    return pl.DataFrame(
        {"n": range(start, start + rows), "s": [f"row {i}" for i in range(start, start + rows)]}
    )


def test_parquet_round_trip(storage_options: dict[str, str], bucket: str) -> None:
    """A Parquet file written to the server reads back as the same frame."""
    frame = sample_frame(50_000)
    frame.write_parquet(f"s3://{bucket}/frames/f.parquet", storage_options=storage_options)
    back = pl.read_parquet(f"s3://{bucket}/frames/f.parquet", storage_options=storage_options)
    assert back.equals(frame)


def test_a_glob_scans_every_file_under_a_prefix(
    storage_options: dict[str, str], bucket: str
) -> None:
    """scan_parquet of a glob lists the prefix and reads each file once."""
    for part in range(3):
        frame = sample_frame(1_000, start=part * 1_000)
        frame.write_parquet(
            f"s3://{bucket}/ds/part-{part}.parquet", storage_options=storage_options
        )
    sample_frame(5).write_parquet(f"s3://{bucket}/other/x.parquet", storage_options=storage_options)
    scanned = pl.scan_parquet(f"s3://{bucket}/ds/*.parquet", storage_options=storage_options)
    totals = scanned.select(pl.len(), pl.col("n").sum()).collect()
    assert totals.row(0) == (3_000, sum(range(3_000)))


def test_a_large_write_goes_in_parts_and_reads_back(
    storage_options: dict[str, str], client: Any, bucket: str
) -> None:
    """A CSV of ~40 MiB is uploaded in parts (a multipart ETag) and read back whole."""
    rows = 1_000_000
    frame = pl.DataFrame({"n": pl.int_range(rows, eager=True)}).with_columns(
        s=pl.col("n").cast(pl.String).str.pad_start(32, "x")
    )
    url = f"s3://{bucket}/big/frame.csv"
    frame.write_csv(url, storage_options=storage_options)
    head = client.head_object(Bucket=bucket, Key="big/frame.csv")
    assert head["ContentLength"] > 35 * MiB
    assert head["ETag"].strip('"').rpartition("-")[2].isdigit()  # "<md5>-N": made of parts
    assert pl.read_csv(url, storage_options=storage_options).equals(frame)
