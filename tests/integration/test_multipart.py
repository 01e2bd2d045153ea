"""Multipart uploads against a real server, with boto3, aws-cli and s3cmd."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore import httpchecksum
from botocore.exceptions import ClientError

from tests.support.clients import error_code, run_aws, run_s3cmd, write_s3cmd_config
from tests.support.server import RunningServer

MiB = 1024 * 1024


def multipart_etag(parts: list[bytes]) -> str:
    """S3's multipart ETag, computed independently: md5 of the binary part MD5s, then -N."""
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def upload_parts(
    s3: Any, bucket: str, key: str, upload_id: str, bodies: list[bytes]
) -> list[dict[str, Any]]:
    """Upload ``bodies`` as parts 1, 2, ... of an upload: the part list Complete takes."""
    return [
        {
            "PartNumber": number,
            "ETag": s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )["ETag"],
        }
        for number, body in enumerate(bodies, start=1)
    ]


def upload_checksummed_parts(
    s3: Any, bucket: str, key: str, upload_id: str, bodies: list[bytes], algorithm: str
) -> list[dict[str, Any]]:
    """``upload_parts`` with ``algorithm`` checksums; each entry keeps the part's checksum."""
    field = f"Checksum{algorithm}"
    parts = []
    for number, body in enumerate(bodies, start=1):
        answer = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm=algorithm,
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"], field: answer[field]})
    return parts


def complete(
    s3: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]]
) -> dict[str, Any]:
    """CompleteMultipartUpload of ``parts``: S3's answer."""
    answer: dict[str, Any] = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return answer


def test_upload_file_with_5_mib_parts_round_trips(s3: Any, bucket: str, tmp_path: Path) -> None:
    """upload_file with a 5 MiB threshold goes in parts; download_file gets the same bytes."""
    source = tmp_path / "big.bin"
    data = os.urandom(17 * MiB + 123)
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_file(str(source), bucket, "big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    parts = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    assert head["ETag"] == multipart_etag(parts)
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(target), Config=config)
    assert target.read_bytes() == data


def test_low_level_multipart_keeps_metadata_and_lists_parts(s3: Any, bucket: str) -> None:
    """Creation metadata reaches the object; ListParts and ListMultipartUploads show progress."""
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="doc", ContentType="text/plain", Metadata={"origin": "test"}
    )
    upload_id = upload["UploadId"]
    first, second = os.urandom(5 * MiB), b"tail"
    parts = upload_parts(s3, bucket, "doc", upload_id, [first, second])
    listed = s3.list_parts(Bucket=bucket, Key="doc", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * MiB), (2, 4)]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("doc", upload_id)]
    done = complete(s3, bucket, "doc", upload_id, parts)
    assert done["ETag"] == multipart_etag([first, second])
    got = s3.get_object(Bucket=bucket, Key="doc")
    assert got["Body"].read() == first + second
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"origin": "test"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_reuploading_a_part_replaces_it(s3: Any, bucket: str) -> None:
    """A part uploaded twice under one number counts once, with its last bytes."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    upload_parts(s3, bucket, "k", upload_id, [b"old"])
    parts = upload_parts(s3, bucket, "k", upload_id, [b"new"])
    complete(s3, bucket, "k", upload_id, parts)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new"


def test_small_middle_part_is_entity_too_small(s3: Any, bucket: str) -> None:
    """A part other than the last below 5 MiB makes Complete fail with EntityTooSmall."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    parts = upload_parts(s3, bucket, "k", upload_id, [b"x" * 100, b"x" * 100])
    with pytest.raises(ClientError) as caught:
        complete(s3, bucket, "k", upload_id, parts)
    assert error_code(caught.value) == "EntityTooSmall"


def test_parts_out_of_order_and_unknown_parts_are_refused(s3: Any, bucket: str) -> None:
    """Complete refuses descending parts (InvalidPartOrder) and a wrong ETag (InvalidPart)."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    parts = upload_parts(s3, bucket, "k", upload_id, [os.urandom(5 * MiB), os.urandom(5 * MiB)])
    with pytest.raises(ClientError) as caught:
        complete(s3, bucket, "k", upload_id, parts[::-1])
    assert error_code(caught.value) == "InvalidPartOrder"
    with pytest.raises(ClientError) as caught:
        complete(s3, bucket, "k", upload_id, [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}])
    assert error_code(caught.value) == "InvalidPart"


def test_a_retried_complete_gets_the_first_answer(s3: Any, bucket: str) -> None:
    """A Complete sent again (as SDKs do after a timeout) answers as the first did, as on S3."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ContentType="text/plain")[
        "UploadId"
    ]
    bodies = [os.urandom(5 * MiB), b"tail"]
    parts = upload_parts(s3, bucket, "k", upload_id, bodies)
    first = complete(s3, bucket, "k", upload_id, parts)
    again = complete(s3, bucket, "k", upload_id, parts)
    fields = ("ETag", "Bucket", "Key", "Location", "ChecksumCRC32")
    assert {f: again.get(f) for f in fields} == {f: first.get(f) for f in fields}
    assert first["ETag"] == multipart_etag(bodies)
    got = s3.get_object(Bucket=bucket, Key="k")
    assert (got["Body"].read(), got["ContentType"]) == (b"".join(bodies), "text/plain")
    # Another part list is no retry of that Complete, and the upload is gone.
    with pytest.raises(ClientError) as caught:
        complete(s3, bucket, "k", upload_id, parts[:1])
    assert error_code(caught.value) == "NoSuchUpload"
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert error_code(caught.value) == "NoSuchUpload"


def test_two_completes_at_once_both_succeed(s3: Any, bucket: str) -> None:
    """Two Completes of one upload at the same time: one joins, both get its answer."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    bodies = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"]
    parts = upload_parts(s3, bucket, "k", upload_id, bodies)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: complete(s3, bucket, "k", upload_id, parts), range(2)))
    assert answers[0]["ETag"] == answers[1]["ETag"] == multipart_etag(bodies)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"".join(bodies)


def test_object_attributes_describe_parts_size_and_etag(s3: Any, bucket: str) -> None:
    """GetObjectAttributes: the bare ETag, the size and a paged list of the parts."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    bodies = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"]
    complete(s3, bucket, "k", upload_id, upload_parts(s3, bucket, "k", upload_id, bodies))
    everything = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=everything, MaxParts=2)
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ETag"] == multipart_etag(bodies).strip('"')
    assert (got["ObjectSize"], got["StorageClass"]) == (10 * MiB + 4, "STANDARD")
    assert got["LastModified"] == head["LastModified"]
    parts = got["ObjectParts"]
    assert (parts["TotalPartsCount"], parts["IsTruncated"], parts["NextPartNumberMarker"]) == (
        3,
        True,
        2,
    )
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, 5 * MiB), (2, 5 * MiB)]
    rest = s3.get_object_attributes(
        Bucket=bucket, Key="k", ObjectAttributes=["ObjectParts"], PartNumberMarker=2
    )["ObjectParts"]
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(3, 4)]
    # A checksum, when the SDK sent one, is the one HeadObject gives.
    if "ChecksumCRC32" in head:
        assert got["Checksum"]["ChecksumCRC32"] == head["ChecksumCRC32"]
        assert got["Checksum"]["ChecksumType"] == "COMPOSITE"


def test_object_attributes_of_a_plain_object_and_refusals(s3: Any, bucket: str) -> None:
    """A single PUT has no parts; a missing key is NoSuchKey; an unknown attribute is refused."""
    s3.put_object(Bucket=bucket, Key="plain", Body=b"hello")
    got = s3.get_object_attributes(
        Bucket=bucket, Key="plain", ObjectAttributes=["ObjectParts", "ObjectSize", "ETag"]
    )
    assert (got["ObjectSize"], got["ETag"], "ObjectParts" in got) == (
        5,
        hashlib.md5(b"hello").hexdigest(),
        False,
    )
    with pytest.raises(ClientError) as caught:
        s3.get_object_attributes(Bucket=bucket, Key="nope", ObjectAttributes=["ETag"])
    assert error_code(caught.value) == "NoSuchKey"
    with pytest.raises(ClientError) as caught:
        s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["Colour"])
    assert error_code(caught.value) == "InvalidArgument"


@pytest.mark.parametrize("algorithm", ["SHA512", "XXHASH128"])
def test_parts_with_a_newer_checksum_make_a_composite_one(
    client: Any, bucket: str, algorithm: str
) -> None:
    """Parts uploaded with SHA-512 or XXH3-128 (S3's 2026 algorithms) give a COMPOSITE checksum."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm)[
        "UploadId"
    ]
    bodies = [os.urandom(5 * MiB), b"tail"]
    field = f"Checksum{algorithm}"
    parts = upload_checksummed_parts(client, bucket, "k", upload_id, bodies, algorithm)
    complete(client, bucket, "k", upload_id, parts)
    head = client.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    digests = b"".join(base64.b64decode(part[field]) for part in parts)
    if algorithm == "SHA512":
        assert base64.b64decode(parts[1][field]) == hashlib.sha512(b"tail").digest()
        composite = base64.b64encode(hashlib.sha512(digests).digest()).decode()
        assert head[field] == f"{composite}-2"
    assert head[field].endswith("-2")
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"".join(bodies)


def test_a_full_object_checksum_is_verified_and_returned(client: Any, bucket: str) -> None:
    """CRC32 FULL_OBJECT: Complete checks the whole-object CRC sent, and GET is verified by it."""
    upload_id = client.create_multipart_upload(
        Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    bodies = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"]
    parts = upload_checksummed_parts(client, bucket, "k", upload_id, bodies, "CRC32")
    whole = base64.b64encode(zlib.crc32(b"".join(bodies)).to_bytes(4, "big")).decode()
    wrong = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()

    def complete_with(crc32: str) -> dict[str, Any]:
        answer: dict[str, Any] = client.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            ChecksumCRC32=crc32,
            ChecksumType="FULL_OBJECT",
        )
        return answer

    with pytest.raises(ClientError) as caught:
        complete_with(wrong)
    assert error_code(caught.value) == "BadDigest"
    done = complete_with(whole)
    assert (done["ChecksumCRC32"], done["ChecksumType"]) == (whole, "FULL_OBJECT")
    # botocore checks a full-object CRC against the body it reads.
    got = client.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (got["ChecksumCRC32"], got["ChecksumType"]) == (whole, "FULL_OBJECT")
    assert got["Body"].read() == b"".join(bodies)


def test_crc64nvme_uploads_are_full_object(client: Any, bucket: str) -> None:
    """CRC64NVME multipart uploads are FULL_OBJECT, as on S3; asking for COMPOSITE is refused."""
    created = client.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME")
    assert created["ChecksumType"] == "FULL_OBJECT"
    upload_id = created["UploadId"]
    bodies = [os.urandom(5 * MiB), b"tail"]
    parts = upload_checksummed_parts(client, bucket, "k", upload_id, bodies, "CRC64NVME")
    complete(client, bucket, "k", upload_id, parts)
    reference = httpchecksum.CrtCrc64NvmeChecksum()
    reference.update(b"".join(bodies))
    head = client.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC64NVME"], head["ChecksumType"]) == (
        reference.b64digest(),
        "FULL_OBJECT",
    )
    with pytest.raises(ClientError) as caught:
        client.create_multipart_upload(
            Bucket=bucket, Key="k2", ChecksumAlgorithm="CRC64NVME", ChecksumType="COMPOSITE"
        )
    assert error_code(caught.value) == "InvalidRequest"


def test_abort_removes_the_upload(s3: Any, bucket: str) -> None:
    """After AbortMultipartUpload, parts for that upload answer NoSuchUpload."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    with pytest.raises(ClientError) as caught:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"y")
    assert error_code(caught.value) == "NoSuchUpload"
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert error_code(caught.value) == "NoSuchUpload"


def test_upload_part_copy_rebuilds_an_object_from_ranges(s3: Any, bucket: str) -> None:
    """UploadPartCopy with copy-source ranges assembles an exact copy of a 64 MiB object."""
    data = os.urandom(64 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=data)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copy")["UploadId"]
    parts = []
    # 7 MiB ranges: the last one (1 MiB) is short, as real copies' are.
    for number, start in enumerate(range(0, len(data), 7 * MiB), start=1):
        end = min(start + 7 * MiB, len(data)) - 1
        result = s3.upload_part_copy(
            Bucket=bucket,
            Key="copy",
            UploadId=upload_id,
            PartNumber=number,
            CopySource={"Bucket": bucket, "Key": "source"},
            CopySourceRange=f"bytes={start}-{end}",
        )
        parts.append({"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]})
    complete(s3, bucket, "copy", upload_id, parts)
    assert len(parts) == 10
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == data


def test_aws_cli_copies_a_50_mib_file(
    server: RunningServer, tmp_path: Path, fresh_bucket: str
) -> None:
    """aws s3 cp of a 50 MiB file (multipart by default) round-trips byte for byte."""
    source = tmp_path / "fifty.bin"
    data = os.urandom(50 * MiB)
    source.write_bytes(data)
    run_aws(server, "s3", "mb", f"s3://{fresh_bucket}")
    run_aws(server, "s3", "cp", str(source), f"s3://{fresh_bucket}/fifty.bin")
    target = tmp_path / "back.bin"
    run_aws(server, "s3", "cp", f"s3://{fresh_bucket}/fifty.bin", str(target))
    assert target.read_bytes() == data


def test_s3cmd_multipart_put_round_trips(
    server: RunningServer, client: Any, tmp_path: Path, fresh_bucket: str
) -> None:
    """s3cmd put with 5 MiB multipart chunks stores the file byte for byte."""
    config = write_s3cmd_config(server, tmp_path / "s3cfg", signature_v2=False)
    source = tmp_path / "chunks.bin"
    data = os.urandom(12 * MiB)
    source.write_bytes(data)
    run_s3cmd(config, "mb", f"s3://{fresh_bucket}")
    run_s3cmd(config, "put", "--multipart-chunk-size-mb=5", str(source), f"s3://{fresh_bucket}/c")
    # Three parts (5 + 5 + 2 MiB), not one PUT: a multipart ETag says so.
    assert client.head_object(Bucket=fresh_bucket, Key="c")["ETag"].endswith('-3"')
    target = tmp_path / "back.bin"
    run_s3cmd(config, "get", f"s3://{fresh_bucket}/c", str(target))
    assert target.read_bytes() == data


def test_copy_source_conditions_guard_copies(s3: Any, bucket: str) -> None:
    """x-amz-copy-source-if-* conditions copy when they hold and answer 412 when they fail."""
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"data")["ETag"]
    source = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="ok", CopySource=source, CopySourceIfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="ok")["Body"].read() == b"data"
    for condition in (
        {"CopySourceIfMatch": '"' + "0" * 32 + '"'},
        {"CopySourceIfNoneMatch": etag},
    ):
        with pytest.raises(ClientError) as caught:
            s3.copy_object(Bucket=bucket, Key="no", CopySource=source, **condition)
        assert error_code(caught.value) == "PreconditionFailed"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="no")


def test_get_and_head_by_part_number(s3: Any, bucket: str) -> None:
    """GetObject and HeadObject with PartNumber answer that part's bytes and the parts count."""
    first, second = os.urandom(5 * MiB), os.urandom(1000)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    parts = upload_parts(s3, bucket, "parts", upload_id, [first, second])
    complete(s3, bucket, "parts", upload_id, parts)
    got = s3.get_object(Bucket=bucket, Key="parts", PartNumber=2)
    assert got["Body"].read() == second
    assert got["PartsCount"] == 2
    assert got["ContentRange"] == f"bytes {len(first)}-{len(first) + 999}/{len(first) + 1000}"
    head = s3.head_object(Bucket=bucket, Key="parts", PartNumber=1)
    assert (head["ContentLength"], head["PartsCount"]) == (len(first), 2)
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="parts", PartNumber=3)
    assert error_code(caught.value) == "InvalidPartNumber"


def test_single_part_object_has_one_part(s3: Any, bucket: str) -> None:
    """An object from a plain PUT is its own part 1; part 2 does not exist."""
    s3.put_object(Bucket=bucket, Key="plain", Body=b"whole")
    assert s3.get_object(Bucket=bucket, Key="plain", PartNumber=1)["Body"].read() == b"whole"
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="plain", PartNumber=2)
    assert error_code(caught.value) == "InvalidPartNumber"


def test_boto3_managed_copy_goes_through_upload_part_copy(s3: Any, bucket: str) -> None:
    """s3.copy above the multipart threshold copies by UploadPartCopy: same bytes, -N ETag."""
    data = os.urandom(12 * MiB + 7)
    s3.put_object(Bucket=bucket, Key="source", Body=data, Metadata={"kept": "yes"})
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.copy({"Bucket": bucket, "Key": "source"}, bucket, "copied", Config=config)
    head = s3.head_object(Bucket=bucket, Key="copied")
    parts = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    assert head["ETag"] == multipart_etag(parts)
    assert head["Metadata"] == {"kept": "yes"}
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == data
