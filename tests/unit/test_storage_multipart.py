"""Multipart uploads on disk: create, parts, listings, complete, abort, races and GC."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import zlib
from functools import partial
from pathlib import Path

import pytest

from nanio.errors import (
    BadDigest,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    MalformedXML,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    PreconditionFailed,
)
from nanio.s3.checksums import new_checksum
from nanio.s3.model import ObjectMeta
from nanio.storage import Store
from tests.support.storage import read_object

MIB = 1024 * 1024
#: Completes in most tests use a tiny minimum so parts can stay small.
SMALL = 1


def init_meta(**fields: object) -> ObjectMeta:
    """Metadata as the web layer builds it for CreateMultipartUpload."""
    return ObjectMeta(etag="", size=0, last_modified=0.0, **fields)  # type: ignore[arg-type]


def upload_part(
    store: Store, upload_id: str, number: int, data: bytes, key: str = "obj", **checksums: str
) -> str:
    """Upload ``data`` as part ``number`` of ``key`` in "bkt"; return its ETag."""
    etag = hashlib.md5(data).hexdigest()
    temp = store.create_temp()
    temp.write(data)
    store.commit_part("bkt", key, upload_id, number, temp, etag, dict(checksums))
    return etag


def multipart_etag(*parts: bytes) -> str:
    """The S3 multipart ETag, computed independently of nanio."""
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"


def uploads_dir(store: Store) -> Path:
    """The store's multipart directory."""
    return Path(store.root) / ".nanio" / "multipart"


# -- create and info ---------------------------------------------------------------


def test_create_returns_32_hex_id(store: Store) -> None:
    """CreateMultipartUpload returns an id of 32 lower-case hex characters."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    assert len(upload_id) == 32 and set(upload_id) <= set("0123456789abcdef")


def test_create_writes_init_json(store: Store) -> None:
    """A new upload is a directory holding init.json and an empty parts directory."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    assert sorted(os.listdir(uploads_dir(store) / upload_id)) == ["init.json", "parts"]


def test_create_in_missing_bucket_is_no_such_bucket(store: Store) -> None:
    """Starting an upload in a missing bucket raises NoSuchBucket."""
    with pytest.raises(NoSuchBucket):
        store.create_multipart_upload("nope", "obj", init_meta(), None)


def test_create_with_bad_key_is_refused(store: Store) -> None:
    """Starting an upload of a key that cannot be stored raises InvalidArgument."""
    with pytest.raises(InvalidArgument):
        store.create_multipart_upload("bkt", "a/../b", init_meta(), None)


def test_upload_info_returns_init_metadata(store: Store) -> None:
    """upload_info returns the owner, content type, headers, user metadata and algorithm."""
    meta = init_meta(
        content_type="text/plain",
        headers={"cache-control": "no-cache"},
        user_metadata={"color": "blue"},
        checksums={"crc32": ""},
    )
    upload_id = store.create_multipart_upload("bkt", "obj", meta, "AKIA1")
    info = store.upload_info("bkt", "obj", upload_id)
    assert (info.upload_id, info.bucket, info.key, info.owner) == (upload_id, "bkt", "obj", "AKIA1")
    assert info.meta.content_type == "text/plain"
    assert info.meta.headers == {"cache-control": "no-cache"}
    assert info.meta.user_metadata == {"color": "blue"}
    assert info.meta.checksums == {"crc32": ""}


def test_upload_info_for_other_key_is_no_such_upload(store: Store) -> None:
    """An upload id used with another key raises NoSuchUpload."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    with pytest.raises(NoSuchUpload):
        store.upload_info("bkt", "other", upload_id)


def test_upload_info_for_other_bucket_is_no_such_upload(store: Store) -> None:
    """An upload id used in another bucket raises NoSuchUpload."""
    store.create_bucket("bkt2", None)
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    with pytest.raises(NoSuchUpload):
        store.upload_info("bkt2", "obj", upload_id)


@pytest.mark.parametrize("upload_id", ["", "..", "../../etc", "A" * 32, "0" * 31, "0" * 33])
def test_malformed_upload_id_is_no_such_upload(store: Store, upload_id: str) -> None:
    """An id not of nanio's form raises NoSuchUpload and never names a path."""
    with pytest.raises(NoSuchUpload):
        store.upload_info("bkt", "obj", upload_id)


# -- parts -----------------------------------------------------------------------


def test_round_trip_is_byte_exact_with_multipart_etag(store: Store) -> None:
    """Completing three parts stores their concatenation with the md5-of-md5s ETag."""
    pieces = [b"a" * 1000, b"b" * 2000, b"c" * 10]
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    etags = [upload_part(store, upload_id, n, p) for n, p in enumerate(pieces, 1)]
    meta = store.complete_multipart_upload(
        "bkt", "obj", upload_id, list(enumerate(etags, 1)), min_part_size=SMALL
    )
    assert read_object(store, "obj") == b"".join(pieces)
    assert meta.etag == multipart_etag(*pieces)
    assert store.head_object("bkt", "obj").etag == multipart_etag(*pieces)


def test_complete_keeps_init_metadata(store: Store) -> None:
    """The completed object carries the content type and user metadata given at creation."""
    meta = init_meta(content_type="image/png", user_metadata={"k": "v"})
    upload_id = store.create_multipart_upload("bkt", "obj", meta, None)
    etag = upload_part(store, upload_id, 1, b"x")
    store.complete_multipart_upload("bkt", "obj", upload_id, [(1, etag)])
    head = store.head_object("bkt", "obj")
    assert (head.content_type, head.user_metadata) == ("image/png", {"k": "v"})


def test_complete_removes_upload_directory(store: Store) -> None:
    """After Complete the upload's directory is gone."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    etag = upload_part(store, upload_id, 1, b"x")
    store.complete_multipart_upload("bkt", "obj", upload_id, [(1, etag)])
    assert not (uploads_dir(store) / upload_id).exists()


def test_complete_with_quoted_etag_is_accepted(store: Store) -> None:
    """A client that echoes the ETag with its quotes still completes."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    etag = upload_part(store, upload_id, 1, b"x")
    meta = store.complete_multipart_upload("bkt", "obj", upload_id, [(1, f'"{etag}"')])
    assert meta.etag == multipart_etag(b"x")


def test_reuploaded_part_replaces_the_old_one(store: Store) -> None:
    """Uploading a part number again replaces its bytes."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    upload_part(store, upload_id, 1, b"old bytes")
    etag = upload_part(store, upload_id, 1, b"new")
    store.complete_multipart_upload("bkt", "obj", upload_id, [(1, etag)])
    assert read_object(store, "obj") == b"new"


def test_old_etag_of_replaced_part_is_invalid_part(store: Store) -> None:
    """Completing with the ETag of a replaced part raises InvalidPart."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    old = upload_part(store, upload_id, 1, b"old bytes")
    upload_part(store, upload_id, 1, b"new")
    with pytest.raises(InvalidPart):
        store.complete_multipart_upload("bkt", "obj", upload_id, [(1, old)])


def test_commit_part_returns_part_info(store: Store) -> None:
    """commit_part returns the part's number, ETag, size and checksums."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    temp = store.create_temp()
    temp.write(b"hello")
    part = store.commit_part("bkt", "obj", upload_id, 7, temp, "e" * 32, {"crc32": "AAAAAA=="})
    assert (part.part_number, part.etag, part.size, part.checksums) == (
        7,
        "e" * 32,
        5,
        {"crc32": "AAAAAA=="},
    )


@pytest.mark.parametrize("number", [0, -1, 10001])
def test_part_number_out_of_range_is_invalid_argument(store: Store, number: int) -> None:
    """A part number outside 1..10000 raises InvalidArgument."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    with pytest.raises(InvalidArgument):
        upload_part(store, upload_id, number, b"x")


def test_part_for_missing_upload_is_no_such_upload(store: Store) -> None:
    """A part for an unknown upload raises NoSuchUpload and its temp file is removed."""
    temp = store.create_temp()
    temp.write(b"x")
    with pytest.raises(NoSuchUpload):
        store.commit_part("bkt", "obj", "0" * 32, 1, temp, "e" * 32, {})
    assert temp.finished and os.listdir(Path(store.root) / ".nanio" / "tmp") == []


# -- complete errors ----------------------------------------------------------------


def test_complete_without_parts_is_malformed_xml(store: Store) -> None:
    """Completing with an empty part list raises MalformedXML."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    with pytest.raises(MalformedXML):
        store.complete_multipart_upload("bkt", "obj", upload_id, [])


@pytest.mark.parametrize("order", [[2, 1], [1, 1]])
def test_parts_not_ascending_is_invalid_part_order(store: Store, order: list[int]) -> None:
    """Parts listed out of order, or repeated, raise InvalidPartOrder."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    etags = {n: upload_part(store, upload_id, n, b"x%d" % n) for n in (1, 2)}
    with pytest.raises(InvalidPartOrder):
        store.complete_multipart_upload(
            "bkt", "obj", upload_id, [(n, etags[n]) for n in order], min_part_size=SMALL
        )


def test_missing_part_is_invalid_part(store: Store) -> None:
    """Listing a part that was never uploaded raises InvalidPart."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    etag = upload_part(store, upload_id, 1, b"x")
    with pytest.raises(InvalidPart):
        store.complete_multipart_upload(
            "bkt", "obj", upload_id, [(1, etag), (2, etag)], min_part_size=SMALL
        )


def test_wrong_etag_is_invalid_part(store: Store) -> None:
    """Listing a part with an ETag that is not its own raises InvalidPart."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    upload_part(store, upload_id, 1, b"x")
    with pytest.raises(InvalidPart):
        store.complete_multipart_upload("bkt", "obj", upload_id, [(1, "0" * 32)])


def test_small_part_before_the_last_is_entity_too_small(store: Store) -> None:
    """A part under the minimum size that is not the last raises EntityTooSmall."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    first = upload_part(store, upload_id, 1, b"small")
    last = upload_part(store, upload_id, 2, b"x")
    with pytest.raises(EntityTooSmall):
        store.complete_multipart_upload("bkt", "obj", upload_id, [(1, first), (2, last)])


def test_small_last_part_is_accepted(store: Store) -> None:
    """Only the last part may be smaller than the minimum size."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    first = upload_part(store, upload_id, 1, b"12345")
    last = upload_part(store, upload_id, 2, b"x")
    meta = store.complete_multipart_upload(
        "bkt", "obj", upload_id, [(1, first), (2, last)], min_part_size=5
    )
    assert meta.size == 6


def test_failed_complete_keeps_the_upload(store: Store) -> None:
    """After an InvalidPart the upload still exists and can be completed."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    etag = upload_part(store, upload_id, 1, b"x")
    with pytest.raises(InvalidPart):
        store.complete_multipart_upload("bkt", "obj", upload_id, [(1, "0" * 32)])
    assert store.complete_multipart_upload("bkt", "obj", upload_id, [(1, etag)]).size == 1


def _completed(store: Store, key: str = "obj") -> tuple[str, list[tuple[int, str]], ObjectMeta]:
    """A two-part upload of ``key``, completed: (its id, the part list, what Complete returned)."""
    upload_id = store.create_multipart_upload(
        "bkt", key, init_meta(content_type="text/plain", user_metadata={"a": "1"}), None
    )
    parts = [
        (1, upload_part(store, upload_id, 1, b"one", key)),
        (2, upload_part(store, upload_id, 2, b"two", key)),
    ]
    return (
        upload_id,
        parts,
        store.complete_multipart_upload("bkt", key, upload_id, parts, min_part_size=SMALL),
    )


def test_retried_complete_answers_as_the_first(store: Store) -> None:
    """A Complete sent again after it succeeded returns the same metadata (S3 does; SDKs retry)."""
    upload_id, parts, first = _completed(store)
    # Clients echo the ETags quoted or not, in either case.
    echoed = [(number, f'"{etag.upper()}"') for number, etag in parts]
    again = store.complete_multipart_upload("bkt", "obj", upload_id, echoed, min_part_size=SMALL)
    assert again == first
    assert (again.etag, again.parts) == (multipart_etag(b"one", b"two"), (3, 3))
    assert read_object(store, "obj") == b"onetwo"


def test_completed_upload_is_gone_for_everything_but_complete(store: Store) -> None:
    """Parts, listings and Abort of a completed upload still answer NoSuchUpload."""
    upload_id, _, _ = _completed(store)
    with pytest.raises(NoSuchUpload):
        upload_part(store, upload_id, 3, b"three")
    with pytest.raises(NoSuchUpload):
        store.list_parts("bkt", "obj", upload_id)
    with pytest.raises(NoSuchUpload):
        store.abort_multipart_upload("bkt", "obj", upload_id)
    assert store.list_multipart_uploads("bkt").uploads == []
    assert list(uploads_dir(store).iterdir()) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda parts: parts[:1],  # fewer parts
        lambda parts: [(1, parts[0][1]), (2, "0" * 32)],  # another ETag
        lambda parts: [(1, parts[0][1]), (3, parts[1][1])],  # another number
    ],
    ids=["fewer", "etag", "number"],
)
def test_retry_with_another_part_list_is_no_such_upload(store: Store, change: object) -> None:
    """Only a Complete of the same part list gets the first answer."""
    upload_id, parts, _ = _completed(store)
    with pytest.raises(NoSuchUpload):
        store.complete_multipart_upload("bkt", "obj", upload_id, change(parts), min_part_size=SMALL)  # type: ignore[operator]


def test_retry_for_another_key_or_bucket_is_no_such_upload(store: Store) -> None:
    """The record names its bucket and key; the id used elsewhere is no upload."""
    upload_id, parts, _ = _completed(store)
    store.create_bucket("other", None)
    with pytest.raises(NoSuchUpload):
        store.complete_multipart_upload("bkt", "obj2", upload_id, parts, min_part_size=SMALL)
    with pytest.raises(NoSuchUpload):
        store.complete_multipart_upload("other", "obj", upload_id, parts, min_part_size=SMALL)


def test_retry_after_the_bucket_was_made_again_is_no_such_upload(store: Store) -> None:
    """Deleting a bucket forgets its completed uploads, and only its own."""
    upload_id, parts, _ = _completed(store)
    store.create_bucket("kept", None)
    kept_id = store.create_multipart_upload("kept", "obj", init_meta(), None)
    temp = store.create_temp()
    temp.write(b"x")
    kept_parts = [(1, hashlib.md5(b"x").hexdigest())]
    store.commit_part("kept", "obj", kept_id, 1, temp, kept_parts[0][1], {})
    kept = store.complete_multipart_upload("kept", "obj", kept_id, kept_parts)
    store.delete_object("bkt", "obj")
    store.delete_bucket("bkt")
    with pytest.raises(NoSuchBucket):
        store.complete_multipart_upload("bkt", "obj", upload_id, parts, min_part_size=SMALL)
    store.create_bucket("bkt", None)
    with pytest.raises(NoSuchUpload):
        store.complete_multipart_upload("bkt", "obj", upload_id, parts, min_part_size=SMALL)
    assert store.complete_multipart_upload("kept", "obj", kept_id, kept_parts) == kept


def test_an_id_not_of_nanios_form_never_names_a_record(store: Store) -> None:
    """A Complete with a path for an id is NoSuchUpload, even where a record-like file lies."""
    upload_id, parts, first = _completed(store)
    record = Path(store.root) / ".nanio" / "completed" / f"{upload_id}.bkt.json"
    (Path(store.root) / ".nanio" / "planted.bkt.json").write_bytes(record.read_bytes())
    for hostile in ("../planted", upload_id.upper(), upload_id + "/", ""):
        with pytest.raises(NoSuchUpload):
            store.complete_multipart_upload("bkt", "obj", hostile, parts, min_part_size=SMALL)
    assert (
        store.complete_multipart_upload("bkt", "obj", upload_id, parts, min_part_size=SMALL)
        == first
    )


def test_records_are_forgotten_after_a_day(store: Store) -> None:
    """The sweep keeps fresh records and drops old ones; then a retry is NoSuchUpload."""
    upload_id, parts, _ = _completed(store)
    record = Path(store.root) / ".nanio" / "completed" / f"{upload_id}.bkt.json"
    assert store.forget_completed_uploads() == 0
    assert record.is_file()
    two_days_ago = time.time() - 2 * 86400
    os.utime(record, (two_days_ago, two_days_ago))
    assert store.forget_completed_uploads() == 1
    assert not record.exists()
    with pytest.raises(NoSuchUpload):
        store.complete_multipart_upload("bkt", "obj", upload_id, parts, min_part_size=SMALL)


def test_a_refused_complete_leaves_no_record(store: Store) -> None:
    """A Complete refused by its precondition keeps the upload and answers no retry."""
    store.put_object_bytes("bkt", "obj", b"there", init_meta())
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    parts = [(1, upload_part(store, upload_id, 1, b"x"))]

    def refuse(current_etag: str | None) -> None:
        raise PreconditionFailed()

    with pytest.raises(PreconditionFailed):
        store.complete_multipart_upload("bkt", "obj", upload_id, parts, precondition=refuse)
    assert not (Path(store.root) / ".nanio" / "completed" / f"{upload_id}.bkt.json").exists()
    assert store.complete_multipart_upload("bkt", "obj", upload_id, parts).size == 1


def _upload_with_checksums(
    store: Store, algorithm: str, checksum_type: str, pieces: list[bytes]
) -> tuple[str, list[tuple[int, str]]]:
    """An upload of "obj" whose parts carry ``algorithm`` checksums: (its id, the part list)."""
    upload_id = store.create_multipart_upload(
        "bkt", "obj", init_meta(checksums={algorithm: ""}), None, checksum_type=checksum_type
    )
    parts = []
    for number, piece in enumerate(pieces, 1):
        checksum = new_checksum(algorithm)
        checksum.update(piece)
        parts.append(
            (
                number,
                upload_part(store, upload_id, number, piece, **{algorithm: checksum.b64digest()}),
            )
        )
    return upload_id, parts


def test_a_full_object_checksum_is_the_crc_of_the_whole_object(store: Store) -> None:
    """FULL_OBJECT: the parts' CRC32s combine into zlib's CRC32 of the joined bytes."""
    pieces = [b"first part ", b"second part ", b"third"]
    upload_id, parts = _upload_with_checksums(store, "crc32", "FULL_OBJECT", pieces)
    meta = store.complete_multipart_upload("bkt", "obj", upload_id, parts, min_part_size=SMALL)
    whole = zlib.crc32(b"".join(pieces)).to_bytes(4, "big")
    assert meta.checksums == {"crc32": base64.b64encode(whole).decode()}


def test_a_composite_checksum_is_the_checksum_of_the_part_checksums(store: Store) -> None:
    """COMPOSITE: SHA-256 of the parts' SHA-256 digests, then "-N"."""
    pieces = [b"first part ", b"second"]
    upload_id, parts = _upload_with_checksums(store, "sha256", "COMPOSITE", pieces)
    meta = store.complete_multipart_upload("bkt", "obj", upload_id, parts, min_part_size=SMALL)
    of_digests = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in pieces)).digest()
    assert meta.checksums == {"sha256": f"{base64.b64encode(of_digests).decode()}-2"}


def test_a_wrong_object_checksum_sent_with_complete_is_a_bad_digest(store: Store) -> None:
    """The client's whole-object checksum is checked before the join; the upload survives."""
    pieces = [b"abc", b"def"]
    upload_id, parts = _upload_with_checksums(store, "crc32c", "FULL_OBJECT", pieces)
    right = new_checksum("crc32c")
    right.update(b"abcdef")
    with pytest.raises(BadDigest):
        store.complete_multipart_upload(
            "bkt",
            "obj",
            upload_id,
            parts,
            min_part_size=SMALL,
            sent_checksums={"crc32c": "AAAAAA=="},
        )
    assert store.list_parts("bkt", "obj", upload_id)[0]
    meta = store.complete_multipart_upload(
        "bkt",
        "obj",
        upload_id,
        parts,
        min_part_size=SMALL,
        sent_checksums={"crc32c": right.b64digest()},
    )
    assert meta.checksums == {"crc32c": right.b64digest()}


def test_skipped_parts_are_not_joined(store: Store) -> None:
    """Parts uploaded but not listed in Complete are left out of the object."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    one = upload_part(store, upload_id, 1, b"one")
    upload_part(store, upload_id, 2, b"two")
    three = upload_part(store, upload_id, 3, b"three")
    meta = store.complete_multipart_upload(
        "bkt", "obj", upload_id, [(1, one), (3, three)], min_part_size=SMALL
    )
    assert (read_object(store, "obj"), meta.etag) == (
        b"onethree",
        multipart_etag(b"one", b"three"),
    )


def test_composite_checksum_when_every_part_has_one(store: Store) -> None:
    """With a checksum algorithm and a checksum on every part, the object gets a composite one."""
    import base64
    import zlib

    upload_id = store.create_multipart_upload(
        "bkt", "obj", init_meta(checksums={"crc32": ""}), None
    )
    pieces = [b"first", b"second"]
    crcs = [zlib.crc32(p).to_bytes(4, "big") for p in pieces]
    etags = [
        upload_part(store, upload_id, n, p, crc32=base64.b64encode(c).decode())
        for n, (p, c) in enumerate(zip(pieces, crcs, strict=True), 1)
    ]
    meta = store.complete_multipart_upload(
        "bkt", "obj", upload_id, list(enumerate(etags, 1)), min_part_size=SMALL
    )
    expected = base64.b64encode(zlib.crc32(b"".join(crcs)).to_bytes(4, "big")).decode() + "-2"
    assert meta.checksums == {"crc32": expected}


def test_join_uses_copy_file_range_not_python_reads(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Joining 3 x 5 MiB parts copies every byte with copy_file_range, none via os.read."""
    pieces = [bytes([n]) * (5 * MIB) for n in (1, 2, 3)]
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    etags = [upload_part(store, upload_id, n, p) for n, p in enumerate(pieces, 1)]
    copied: list[int] = []
    read_sizes: list[int] = []
    real_copy, real_read = os.copy_file_range, os.read

    def counting_copy(*args: int) -> int:
        n = real_copy(*args)
        copied.append(n)
        return n

    def counting_read(fd: int, size: int) -> bytes:
        data = real_read(fd, size)
        read_sizes.append(len(data))
        return data

    monkeypatch.setattr(os, "copy_file_range", counting_copy)
    monkeypatch.setattr(os, "read", counting_read)
    store.complete_multipart_upload("bkt", "obj", upload_id, list(enumerate(etags, 1)))
    monkeypatch.undo()
    assert sum(copied) == 15 * MIB
    assert max(read_sizes, default=0) < 64 * 1024
    assert read_object(store, "obj") == b"".join(pieces)


# -- list_parts --------------------------------------------------------------------


def test_list_parts_in_number_order(store: Store) -> None:
    """ListParts returns parts ascending by number whatever the upload order."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    for n in (3, 1, 2):
        upload_part(store, upload_id, n, b"p" * n)
    parts, truncated = store.list_parts("bkt", "obj", upload_id)
    assert [(p.part_number, p.size) for p in parts] == [(1, 1), (2, 2), (3, 3)]
    assert not truncated


def test_list_parts_paginates_with_marker(store: Store) -> None:
    """ListParts pages by max_parts and continues after part_number_marker."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    for n in range(1, 6):
        upload_part(store, upload_id, n, b"x")
    first, truncated1 = store.list_parts("bkt", "obj", upload_id, max_parts=2)
    rest, truncated2 = store.list_parts("bkt", "obj", upload_id, part_number_marker=2, max_parts=3)
    assert ([p.part_number for p in first], truncated1) == ([1, 2], True)
    assert ([p.part_number for p in rest], truncated2) == ([3, 4, 5], False)


def test_list_parts_of_missing_upload_is_no_such_upload(store: Store) -> None:
    """ListParts for an unknown upload raises NoSuchUpload."""
    with pytest.raises(NoSuchUpload):
        store.list_parts("bkt", "obj", "f" * 32)


def test_torn_part_is_not_listed(store: Store) -> None:
    """A part whose bytes do not match its json (a crash between renames) is left out."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    upload_part(store, upload_id, 1, b"x")
    upload_part(store, upload_id, 2, b"y")
    (uploads_dir(store) / upload_id / "parts" / "000002.bin").write_bytes(b"longer")
    parts, _ = store.list_parts("bkt", "obj", upload_id)
    assert [p.part_number for p in parts] == [1]


# -- abort -----------------------------------------------------------------------


def test_abort_removes_everything(store: Store) -> None:
    """Abort removes the upload directory and its parts."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    upload_part(store, upload_id, 1, b"x")
    store.abort_multipart_upload("bkt", "obj", upload_id)
    assert os.listdir(uploads_dir(store)) == []


def test_abort_twice_is_no_such_upload(store: Store) -> None:
    """Aborting an aborted upload raises NoSuchUpload."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    store.abort_multipart_upload("bkt", "obj", upload_id)
    with pytest.raises(NoSuchUpload):
        store.abort_multipart_upload("bkt", "obj", upload_id)


def test_part_after_abort_is_no_such_upload(store: Store) -> None:
    """UploadPart after Abort raises NoSuchUpload."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    store.abort_multipart_upload("bkt", "obj", upload_id)
    with pytest.raises(NoSuchUpload):
        upload_part(store, upload_id, 1, b"x")


# -- races -----------------------------------------------------------------------


def _race(store: Store, *calls: object) -> list[object]:
    """Run the callables in threads started together; return results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i: int, call: object) -> None:
        barrier.wait()
        try:
            results[i] = call()  # type: ignore[operator]
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_completes_both_answer_the_same(store: Store) -> None:
    """Two concurrent Completes of one upload: one joins, the other waits and gets its answer."""
    pieces = [b"a" * MIB, b"b" * MIB]
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    parts = [(n, upload_part(store, upload_id, n, p)) for n, p in enumerate(pieces, 1)]

    def complete() -> ObjectMeta:
        return store.complete_multipart_upload("bkt", "obj", upload_id, parts, min_part_size=SMALL)

    results = _race(store, complete, complete)
    assert all(isinstance(r, ObjectMeta) for r in results)
    assert results[0] == results[1]
    assert read_object(store, "obj") == b"".join(pieces)


def test_complete_racing_abort_never_tears(store: Store) -> None:
    """Complete racing Abort: exactly one wins, and any object is whole."""
    pieces = [b"a" * MIB, b"b" * MIB]
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    parts = [(n, upload_part(store, upload_id, n, p)) for n, p in enumerate(pieces, 1)]
    results = _race(
        store,
        lambda: store.complete_multipart_upload(
            "bkt", "obj", upload_id, parts, min_part_size=SMALL
        ),
        lambda: store.abort_multipart_upload("bkt", "obj", upload_id),
    )
    completed = isinstance(results[0], ObjectMeta)
    if completed:
        assert isinstance(results[1], NoSuchUpload)
        assert read_object(store, "obj") == b"".join(pieces)
    else:
        assert isinstance(results[0], NoSuchUpload) and results[1] is None
        assert store.list_objects("bkt").contents == []


def test_complete_racing_a_part_replacement_never_tears(store: Store) -> None:
    """Complete racing a re-upload of its first part: the object is the listed parts or nothing."""
    for attempt in range(20):
        key = f"obj{attempt}"
        pieces = [b"a" * MIB, b"b" * MIB]
        upload_id = store.create_multipart_upload("bkt", key, init_meta(), None)
        parts = [(n, upload_part(store, upload_id, n, p, key)) for n, p in enumerate(pieces, 1)]
        replacement = store.create_temp()
        replacement.write(b"z" * MIB)
        replacement_etag = hashlib.md5(b"z" * MIB).hexdigest()
        results = _race(
            store,
            partial(
                store.complete_multipart_upload, "bkt", key, upload_id, parts, min_part_size=SMALL
            ),
            partial(store.commit_part, "bkt", key, upload_id, 1, replacement, replacement_etag, {}),
        )
        if isinstance(results[0], ObjectMeta):
            # The Complete went first: the part arrived too late, for no upload.
            assert isinstance(results[1], NoSuchUpload)
            assert read_object(store, key) == b"".join(pieces)
        else:
            # The part went first: the listed ETag no longer names part 1.
            assert isinstance(results[0], InvalidPart)
            with pytest.raises(NoSuchKey):
                read_object(store, key)
    assert list((Path(store.root) / ".nanio" / "tmp").iterdir()) == []


# -- list_multipart_uploads --------------------------------------------------------


def _make(store: Store, *keys: str) -> dict[str, list[str]]:
    """Start one upload per key (in order); return the ids by key."""
    ids: dict[str, list[str]] = {}
    for key in keys:
        ids.setdefault(key, []).append(store.create_multipart_upload("bkt", key, init_meta(), None))
    return ids


def test_uploads_listed_in_key_byte_order(store: Store) -> None:
    """Uploads are ordered by the UTF-8 bytes of their keys."""
    _make(store, "b", "a/b", "a-b", "a0", "\u00e9")
    page = store.list_multipart_uploads("bkt")
    assert [u.key for u in page.uploads] == ["a-b", "a/b", "a0", "b", "\u00e9"]


def test_uploads_of_one_key_ordered_by_initiation(store: Store) -> None:
    """Several uploads of one key are listed oldest first."""
    ids = _make(store, "k", "k", "k")["k"]
    assert [u.upload_id for u in store.list_multipart_uploads("bkt").uploads] == ids


def test_uploads_of_other_buckets_are_not_listed(store: Store) -> None:
    """ListMultipartUploads shows only the bucket's own uploads."""
    store.create_bucket("bkt2", None)
    store.create_multipart_upload("bkt2", "x", init_meta(), None)
    assert store.list_multipart_uploads("bkt").uploads == []


def test_uploads_of_missing_bucket_is_no_such_bucket(store: Store) -> None:
    """ListMultipartUploads of a missing bucket raises NoSuchBucket."""
    with pytest.raises(NoSuchBucket):
        store.list_multipart_uploads("nope")


def test_uploads_prefix_and_delimiter(store: Store) -> None:
    """A delimiter rolls keys below the prefix into common prefixes, each listed once."""
    _make(store, "d/a", "d/b/1", "d/b/2", "d/c", "e")
    page = store.list_multipart_uploads("bkt", prefix="d/", delimiter="/")
    assert [u.key for u in page.uploads] == ["d/a", "d/c"]
    assert page.common_prefixes == ["d/b/"]


def test_uploads_paginate_by_key_marker(store: Store) -> None:
    """Pages continue after next_key_marker / next_upload_id_marker."""
    _make(store, "a", "b", "c")
    first = store.list_multipart_uploads("bkt", max_uploads=2)
    second = store.list_multipart_uploads(
        "bkt",
        key_marker=first.next_key_marker or "",
        upload_id_marker=first.next_upload_id_marker or "",
    )
    assert ([u.key for u in first.uploads], first.is_truncated) == (["a", "b"], True)
    assert ([u.key for u in second.uploads], second.is_truncated) == (["c"], False)


def test_uploads_paginate_within_one_key(store: Store) -> None:
    """An upload id marker continues among the uploads of the marker's key."""
    ids = _make(store, "k", "k", "k")["k"]
    page = store.list_multipart_uploads("bkt", key_marker="k", upload_id_marker=ids[0])
    assert [u.upload_id for u in page.uploads] == ids[1:]


def test_key_marker_alone_skips_that_key(store: Store) -> None:
    """A key marker without an id marker lists only keys after it."""
    _make(store, "a", "a", "b")
    assert [u.key for u in store.list_multipart_uploads("bkt", key_marker="a").uploads] == ["b"]


def test_uploads_paginate_over_common_prefix(store: Store) -> None:
    """A page ending on a common prefix continues after all keys under it."""
    _make(store, "a/1", "a/2", "b")
    first = store.list_multipart_uploads("bkt", delimiter="/", max_uploads=1)
    second = store.list_multipart_uploads(
        "bkt", delimiter="/", key_marker=first.next_key_marker or ""
    )
    assert (first.common_prefixes, first.next_key_marker, first.next_upload_id_marker) == (
        ["a/"],
        "a/",
        None,
    )
    assert [u.key for u in second.uploads] == ["b"] and second.common_prefixes == []


def test_max_uploads_zero_is_empty_page(store: Store) -> None:
    """max_uploads 0 gives an empty page."""
    _make(store, "a")
    page = store.list_multipart_uploads("bkt", max_uploads=0)
    assert page.uploads == [] and page.common_prefixes == []


# -- buckets -------------------------------------------------------------------------


def test_uploads_do_not_make_bucket_non_empty(store: Store) -> None:
    """A bucket whose only contents are uploads can be deleted, and its uploads go with it."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    upload_part(store, upload_id, 1, b"x")
    store.delete_bucket("bkt")
    assert os.listdir(uploads_dir(store)) == []


def test_delete_bucket_keeps_other_buckets_uploads(store: Store) -> None:
    """Deleting a bucket leaves other buckets' uploads alone."""
    store.create_bucket("bkt2", None)
    upload_id = store.create_multipart_upload("bkt2", "obj", init_meta(), None)
    store.delete_bucket("bkt")
    assert store.upload_info("bkt2", "obj", upload_id).upload_id == upload_id


# -- gc --------------------------------------------------------------------------------


def _age(path: Path, seconds: float) -> None:
    """Set the mtime of ``path`` and everything below it ``seconds`` into the past."""
    then = time.time() - seconds
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (then, then))
    os.utime(path, (then, then))


def test_gc_removes_abandoned_upload(store: Store) -> None:
    """An upload with no activity for longer than the limit is collected."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    upload_part(store, upload_id, 1, b"x")
    _age(uploads_dir(store) / upload_id, 8 * 86400)
    assert store.gc_abandoned_uploads() == 1
    assert os.listdir(uploads_dir(store)) == []


def test_gc_keeps_upload_with_recent_part(store: Store) -> None:
    """An old upload that received a part recently is kept."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    _age(uploads_dir(store) / upload_id, 8 * 86400)
    upload_part(store, upload_id, 1, b"x")
    assert store.gc_abandoned_uploads() == 0
    assert store.list_parts("bkt", "obj", upload_id)[0][0].part_number == 1


def test_gc_keeps_recent_upload(store: Store) -> None:
    """A freshly created upload is never collected."""
    upload_id = store.create_multipart_upload("bkt", "obj", init_meta(), None)
    assert store.gc_abandoned_uploads() == 0
    assert store.upload_info("bkt", "obj", upload_id).key == "obj"
