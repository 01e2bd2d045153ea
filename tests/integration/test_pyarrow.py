"""
pyarrow's ``S3FileSystem`` against a real server.

pyarrow talks to S3 through the AWS SDK for C++, so these tests drive nanio
with a third SDK family (after botocore and Go): its own signer, its own
multipart uploads from output streams, ranged reads for random access, and
"directories" made of prefixes and folder markers.  Parquet and datasets are
what people use it for, so they are what is written and read.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from tests.support.clients import keys_of
from tests.support.server import REGION, RunningServer

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def arrow_fs(server: RunningServer) -> pafs.S3FileSystem:
    """A pyarrow S3 filesystem on the server, allowed to create and delete buckets."""
    return pafs.S3FileSystem(
        access_key=server.access_key,
        secret_key=server.secret_key,
        endpoint_override=server.endpoint_url,
        scheme="http",
        region=REGION,
        allow_bucket_creation=True,
        allow_bucket_deletion=True,
    )


def sample_table(rows: int, start: int = 0) -> pa.Table:
    """A table of ``rows`` rows: an integer and a string column."""
    numbers = list(range(start, start + rows))
    return pa.table({"n": numbers, "s": [f"row {i}" for i in numbers]})


def test_parquet_round_trip(arrow_fs: pafs.S3FileSystem, bucket: str) -> None:
    """A Parquet file written through S3FileSystem reads back as the same table."""
    table = sample_table(50_000)
    pq.write_table(table, f"{bucket}/tables/t.parquet", filesystem=arrow_fs)
    assert pq.read_table(f"{bucket}/tables/t.parquet", filesystem=arrow_fs).equals(table)


def test_dataset_over_a_prefix(arrow_fs: pafs.S3FileSystem, bucket: str) -> None:
    """A dataset made of the Parquet files under a prefix counts and reads every row."""
    for part in range(3):
        table = sample_table(1_000, start=part * 1_000)
        pq.write_table(table, f"{bucket}/ds/part-{part}.parquet", filesystem=arrow_fs)
    dataset = ds.dataset(f"{bucket}/ds", filesystem=arrow_fs, format="parquet")
    assert dataset.count_rows() == 3_000
    assert sorted(dataset.to_table()["n"].to_pylist()) == list(range(3_000))


def test_large_stream_goes_in_parts_and_reads_at_random(
    arrow_fs: pafs.S3FileSystem, client: Any, bucket: str
) -> None:
    """An output stream over 5 MiB is a multipart upload; seeks read the right bytes."""
    data = os.urandom(12 * MiB + 123)
    with arrow_fs.open_output_stream(f"{bucket}/big.bin") as stream:
        for start in range(0, len(data), MiB):
            stream.write(data[start : start + MiB])
    # A multipart ETag ("<md5 of md5s>-<parts>"); pyarrow picks its own part size.
    etag = client.head_object(Bucket=bucket, Key="big.bin")["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}-[2-9]"', etag), etag
    with arrow_fs.open_input_file(f"{bucket}/big.bin") as source:
        assert source.size() == len(data)
        source.seek(7 * MiB + 5)
        assert source.read(1000) == data[7 * MiB + 5 : 7 * MiB + 1005]
        assert source.read_at(10, len(data) - 10) == data[-10:]


def test_listing_sees_files_and_directories(
    arrow_fs: pafs.S3FileSystem, client: Any, bucket: str
) -> None:
    """get_file_info tells files from prefixes, flat and recursive, with sizes."""
    client.put_object(Bucket=bucket, Key="top.txt", Body=b"12345")
    client.put_object(Bucket=bucket, Key="dir/inner.txt", Body=b"xy")
    flat = arrow_fs.get_file_info(pafs.FileSelector(bucket))
    assert {(info.path, info.type) for info in flat} == {
        (f"{bucket}/top.txt", pafs.FileType.File),
        (f"{bucket}/dir", pafs.FileType.Directory),
    }
    deep = arrow_fs.get_file_info(pafs.FileSelector(bucket, recursive=True))
    sizes = {info.path: info.size for info in deep if info.type == pafs.FileType.File}
    assert sizes == {f"{bucket}/top.txt": 5, f"{bucket}/dir/inner.txt": 2}
    assert arrow_fs.get_file_info(f"{bucket}/nothing").type == pafs.FileType.NotFound


def test_copy_move_and_delete(arrow_fs: pafs.S3FileSystem, client: Any, bucket: str) -> None:
    """copy_file and move are server-side copies; delete_file and delete_dir remove."""
    client.put_object(Bucket=bucket, Key="a/one", Body=b"first")
    arrow_fs.copy_file(f"{bucket}/a/one", f"{bucket}/a/two")
    arrow_fs.move(f"{bucket}/a/two", f"{bucket}/b/three")
    keys = keys_of(client, bucket)
    assert "a/two" not in keys and {"a/one", "b/three"} <= set(keys)
    assert client.get_object(Bucket=bucket, Key="b/three")["Body"].read() == b"first"
    arrow_fs.delete_file(f"{bucket}/a/one")
    arrow_fs.delete_dir(f"{bucket}/b")
    keys = keys_of(client, bucket)
    assert not [key for key in keys if key.startswith(("a/one", "b/"))]


def test_bucket_create_and_delete(
    arrow_fs: pafs.S3FileSystem, client: Any, fresh_bucket: str
) -> None:
    """create_dir of a top-level name makes a bucket; delete_dir removes it with its objects."""
    arrow_fs.create_dir(fresh_bucket)
    assert arrow_fs.get_file_info(fresh_bucket).type == pafs.FileType.Directory
    with arrow_fs.open_output_stream(f"{fresh_bucket}/f") as stream:
        stream.write(b"x")
    arrow_fs.delete_dir(fresh_bucket)
    assert fresh_bucket not in [entry["Name"] for entry in client.list_buckets()["Buckets"]]
