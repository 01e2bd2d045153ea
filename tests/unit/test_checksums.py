"""
Flexible checksums: every algorithm against the standard check values, an
independent bit-by-bit CRC and botocore's own checksum classes; and the
request headers that ask for a checksum, with the S3 errors their misuse and
a mismatch answer.
"""

from __future__ import annotations

import base64
import itertools
import random

import pytest

from nanio.errors import BadDigest, InvalidRequest, MalformedTrailerError
from nanio.s3 import checksums
from nanio.s3.checksums import NO_CHECKSUM, ChecksumRequest, requested_checksums
from tests.support.signing import BOTOCORE_CHECKSUMS, boto3_client, capture

#: The standard CRC "check" input, and each algorithm's digest of it (hex).
CHECK_INPUT = b"123456789"
CHECK_DIGESTS = {
    "crc32": "cbf43926",
    "crc32c": "e3069283",
    "crc64nvme": "ae8b14860a799888",
    "sha1": "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
    "sha256": "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
    "sha512": "d9e6762dd1c8eaf6d61b3c6192fc408d4d6d5f1176d0c29169bc24e71c3f274a"
    "d27fcd5811b313d681f7e55ec02d73d499c95455b6b5bb503acf574fba8ffe85",
    "md5": "25f9e794323b453885f5181f1b624d0b",
    # XXH64, XXH3-64 and XXH3-128 with seed 0, in xxHash's canonical
    # (big-endian) form, as the reference library's python-xxhash gives them.
    "xxhash64": "8cb841db40e6ae83",
    "xxhash3": "72dcb18b67a17dff",
    "xxhash128": "33119477ede5dcd5e9716427681d5860",
}


#: Reflected polynomials and widths of the two CRCs awscrt computes.
REFERENCE_CRCS = {"crc32c": (0x82F63B78, 32), "crc64nvme": (0x9A6C9329AC4BC9B5, 64)}


def reference_crc(algorithm: str, data: bytes) -> bytes:
    """A bit-at-a-time CRC straight from its definition (reflected, all-ones in and out)."""
    polynomial, width = REFERENCE_CRCS[algorithm]
    mask = (1 << width) - 1
    crc = mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
    return (crc ^ mask).to_bytes(width // 8, "big")


def b64(digest_hex: str) -> str:
    """The base64 form S3 headers use for a hex digest."""
    return base64.b64encode(bytes.fromhex(digest_hex)).decode()


def random_pieces(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` cut at random points (some pieces empty)."""
    cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(0, 12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def hashed(algorithm: str, data: bytes) -> checksums.Checksum:
    """A fresh hasher of ``algorithm`` fed ``data``."""
    checksum = checksums.new_checksum(algorithm)
    checksum.update(data)
    return checksum


# -- the hashers ------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
def test_check_value(algorithm: str) -> None:
    """Each algorithm gives the standard check value for "123456789"."""
    checksum = hashed(algorithm, CHECK_INPUT)
    assert checksum.digest().hex() == CHECK_DIGESTS[algorithm]
    assert checksum.b64digest() == b64(CHECK_DIGESTS[algorithm])


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
def test_digest_size(algorithm: str) -> None:
    """Each digest is as long as DIGEST_SIZE_BYTES says."""
    assert len(hashed(algorithm, b"x").digest()) == checksums.DIGEST_SIZE_BYTES[algorithm]


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
@pytest.mark.parametrize("seed", range(4))
def test_matches_botocore_on_random_splits(algorithm: str, seed: int) -> None:
    """Fed random data in random pieces, each hasher agrees with botocore's class."""
    rng = random.Random(f"{algorithm}-{seed}")
    data = rng.randbytes(rng.randint(0, 300000))
    ours = checksums.new_checksum(algorithm)
    theirs = BOTOCORE_CHECKSUMS[algorithm]()
    for piece in random_pieces(data, rng):
        ours.update(piece)
        theirs.update(piece)
    assert ours.b64digest() == theirs.b64digest()


@pytest.mark.parametrize("algorithm", sorted(REFERENCE_CRCS))
def test_matches_a_bitwise_reference(algorithm: str) -> None:
    """CRC32C and CRC64NVME agree with a bit-by-bit implementation of their definition."""
    rng = random.Random(algorithm)
    data = rng.randbytes(3000)
    ours = checksums.new_checksum(algorithm)
    for piece in random_pieces(data, rng):
        ours.update(piece)
    assert ours.digest() == reference_crc(algorithm, data)


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
def test_memoryview_input(algorithm: str) -> None:
    """A hasher fed a memoryview gives the same digest as one fed bytes."""
    checksum = checksums.new_checksum(algorithm)
    checksum.update(memoryview(CHECK_INPUT))
    assert checksum.digest().hex() == CHECK_DIGESTS[algorithm]


def test_empty_crc32_is_zero() -> None:
    """The CRC32 of no bytes is AAAAAA==, as S3 reports for an empty object."""
    assert checksums.new_checksum("crc32").b64digest() == "AAAAAA=="


def test_unknown_algorithm_is_a_value_error() -> None:
    """new_checksum refuses a name that is not an S3 algorithm."""
    with pytest.raises(ValueError, match="blake2b"):
        checksums.new_checksum("blake2b")


# -- reading the request headers ----------------------------------------------------


def test_no_checksum_headers() -> None:
    """A request without checksum headers asks for no checksum."""
    assert requested_checksums({"content-length": ["3"]}) is NO_CHECKSUM
    assert NO_CHECKSUM.new_checksum() is None


def test_botocore_put_object_headers() -> None:
    """boto3's default PutObject asks for CRC32 with the value in a header."""
    request = capture(boto3_client(), "put_object", Bucket="bkt", Key="k", Body=b"hello")
    wanted = requested_checksums(request.headers)
    assert (wanted.algorithm, wanted.trailer) == ("crc32", None)
    assert wanted.verify(hashed("crc32", b"hello")) == {"crc32": "NhCmhg=="}


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
def test_value_header(algorithm: str) -> None:
    """An x-amz-checksum-<algorithm> header asks for that algorithm with that value."""
    value = b64(CHECK_DIGESTS[algorithm])
    wanted = requested_checksums({f"x-amz-checksum-{algorithm}": [value]})
    assert wanted == ChecksumRequest(algorithm, bytes.fromhex(CHECK_DIGESTS[algorithm]))


def test_trailer_header() -> None:
    """x-amz-trailer names the checksum that the aws-chunked trailer carries."""
    wanted = requested_checksums(
        {
            "x-amz-trailer": ["x-amz-checksum-crc64nvme"],
            "x-amz-sdk-checksum-algorithm": ["CRC64NVME"],
        }
    )
    assert wanted == ChecksumRequest("crc64nvme", None, "x-amz-checksum-crc64nvme")


def test_sdk_algorithm_name_is_case_insensitive() -> None:
    """x-amz-sdk-checksum-algorithm is accepted in any case, as botocore sends it upper-case."""
    wanted = requested_checksums(
        {
            "x-amz-checksum-sha1": [b64(CHECK_DIGESTS["sha1"])],
            "x-amz-sdk-checksum-algorithm": ["Sha1"],
        }
    )
    assert wanted.algorithm == "sha1"


def test_other_x_amz_checksum_headers_are_not_values() -> None:
    """x-amz-checksum-algorithm, -type and -mode share the prefix but carry no value."""
    headers = {
        "x-amz-checksum-algorithm": ["CRC32"],
        "x-amz-checksum-type": ["FULL_OBJECT"],
        "x-amz-checksum-mode": ["ENABLED"],
    }
    assert requested_checksums(headers) is NO_CHECKSUM


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-checksum-crc32": ["AAAAAA=="], "x-amz-checksum-sha1": [b64(CHECK_DIGESTS["sha1"])]},
        {"x-amz-checksum-crc32": [""], "x-amz-checksum-crc32c": [""]},
        {"x-amz-checksum-crc32": ["AAAAAA=="], "x-amz-trailer": ["x-amz-checksum-crc32c"]},
    ],
)
def test_more_than_one_checksum_is_refused(headers: dict[str, list[str]]) -> None:
    """Two checksum algorithms in one request are refused as S3 refuses them."""
    with pytest.raises(InvalidRequest) as caught:
        requested_checksums(headers)
    assert caught.value.message == (
        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
    )


@pytest.mark.parametrize(
    "value",
    [
        "",  # empty
        "AAAA",  # 3 bytes
        "AAAAAAA=",  # 5 bytes
        "AAAAAA",  # unpadded
        "AAA*AA==",  # not base64
        "AAAAAA==AAAAAA==",  # two values
        "ÄAAAAA==",  # not ASCII
    ],
)
def test_an_invalid_header_value_is_refused(value: str) -> None:
    """A value that is not base64 of a 4-byte CRC32 is refused, naming the header."""
    with pytest.raises(InvalidRequest) as caught:
        requested_checksums({"x-amz-checksum-crc32": [value]})
    assert caught.value.message == "Value for x-amz-checksum-crc32 header is invalid."


def test_a_repeated_value_header_is_refused() -> None:
    """The same checksum header sent twice is an invalid value."""
    with pytest.raises(InvalidRequest, match="x-amz-checksum-crc32 header is invalid"):
        requested_checksums({"x-amz-checksum-crc32": ["AAAAAA==", "AAAAAA=="]})


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-sdk-checksum-algorithm": ["MD5"], "x-amz-checksum-crc32": ["AAAAAA=="]},
        {"x-amz-sdk-checksum-algorithm": ["CRC32C"], "x-amz-checksum-crc32": ["AAAAAA=="]},
        {"x-amz-sdk-checksum-algorithm": ["SHA1"], "x-amz-trailer": ["x-amz-checksum-crc32"]},
    ],
)
def test_a_contradictory_sdk_algorithm_is_refused(headers: dict[str, list[str]]) -> None:
    """An unknown x-amz-sdk-checksum-algorithm, or one naming another algorithm, is refused."""
    with pytest.raises(InvalidRequest) as caught:
        requested_checksums(headers)
    assert caught.value.message == "Value for x-amz-sdk-checksum-algorithm header is invalid."


def test_an_sdk_algorithm_without_a_value_is_refused() -> None:
    """x-amz-sdk-checksum-algorithm with no value header nor trailer is refused, as by S3."""
    with pytest.raises(InvalidRequest) as caught:
        requested_checksums({"x-amz-sdk-checksum-algorithm": ["CRC32"]})
    assert caught.value.message == (
        "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* "
        "or x-amz-trailer headers were found."
    )


@pytest.mark.parametrize("trailer", ["x-amz-checksum-sha3", "content-md5", ""])
def test_an_unsupported_trailer_is_refused(trailer: str) -> None:
    """An x-amz-trailer that names no S3 checksum is refused."""
    with pytest.raises(InvalidRequest) as caught:
        requested_checksums({"x-amz-trailer": [trailer]})
    assert (
        caught.value.message == "The value specified in the x-amz-trailer header is not supported"
    )


# -- verifying the body ---------------------------------------------------------------


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
def test_a_matching_header_value_verifies(algorithm: str) -> None:
    """A body matching the header value verifies and gives the value to store."""
    value = b64(CHECK_DIGESTS[algorithm])
    wanted = requested_checksums({f"x-amz-checksum-{algorithm}": [value]})
    assert wanted.verify(hashed(algorithm, CHECK_INPUT)) == {algorithm: value}


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
def test_a_mismatch_is_a_bad_digest_naming_the_algorithm(algorithm: str) -> None:
    """A body that does not match answers BadDigest with S3's message for the algorithm."""
    wanted = requested_checksums({f"x-amz-checksum-{algorithm}": [b64(CHECK_DIGESTS[algorithm])]})
    with pytest.raises(BadDigest) as caught:
        wanted.verify(hashed(algorithm, b"12345678"))
    assert caught.value.message == (
        f"The {algorithm.upper()} you specified did not match the calculated checksum."
    )


def test_a_trailer_value_verifies() -> None:
    """The value that arrives in the trailer is the one checked."""
    wanted = requested_checksums({"x-amz-trailer": ["x-amz-checksum-crc32c"]})
    trailers = {"x-amz-checksum-crc32c": b64(CHECK_DIGESTS["crc32c"])}
    assert wanted.verify(hashed("crc32c", CHECK_INPUT), trailers) == {
        "crc32c": b64(CHECK_DIGESTS["crc32c"])
    }


def test_a_trailer_mismatch_is_a_bad_digest() -> None:
    """A trailer value the body does not match answers BadDigest."""
    wanted = requested_checksums({"x-amz-trailer": ["x-amz-checksum-crc32c"]})
    with pytest.raises(BadDigest, match="The CRC32C you specified"):
        wanted.verify(hashed("crc32c", b"other"), {"x-amz-checksum-crc32c": "4waSgw=="})


def test_an_invalid_trailer_value_is_refused() -> None:
    """A trailer value that is not a valid digest is refused as a trailing header."""
    wanted = requested_checksums({"x-amz-trailer": ["x-amz-checksum-crc32"]})
    with pytest.raises(InvalidRequest) as caught:
        wanted.verify(hashed("crc32", b""), {"x-amz-checksum-crc32": "nope"})
    assert caught.value.message == "Value for x-amz-checksum-crc32 trailing header is invalid."


def test_an_announced_trailer_never_sent_is_malformed() -> None:
    """A trailer x-amz-trailer announced but the body lacked is MalformedTrailerError."""
    wanted = requested_checksums({"x-amz-trailer": ["x-amz-checksum-crc32"]})
    with pytest.raises(MalformedTrailerError):
        wanted.verify(hashed("crc32", b""), {})


def test_a_header_value_stands_in_for_an_announced_trailer() -> None:
    """With x-amz-trailer announced but only a header value sent, the header value is checked."""
    wanted = requested_checksums(
        {"x-amz-trailer": ["x-amz-checksum-crc32"], "x-amz-checksum-crc32": ["AAAAAA=="]}
    )
    assert wanted.verify(hashed("crc32", b""), {}) == {"crc32": "AAAAAA=="}
    with pytest.raises(BadDigest):
        wanted.verify(hashed("crc32", b"x"), {})


@pytest.mark.parametrize(
    ("headers", "trailers"),
    [
        ({}, {"x-amz-checksum-crc32": "AAAAAA=="}),
        ({"x-amz-trailer": ["x-amz-checksum-crc32"]}, {"x-amz-checksum-crc32c": "AAAAAA=="}),
        (
            {"x-amz-trailer": ["x-amz-checksum-crc32"]},
            {"x-amz-checksum-crc32": "AAAAAA==", "x-amz-meta-a": "b"},
        ),
    ],
)
def test_an_unannounced_trailer_is_malformed(
    headers: dict[str, list[str]], trailers: dict[str, str]
) -> None:
    """A trailer x-amz-trailer did not announce is MalformedTrailerError."""
    wanted = requested_checksums(headers)
    with pytest.raises(MalformedTrailerError):
        wanted.verify(wanted.new_checksum(), trailers)


def test_no_checksum_verifies_to_nothing() -> None:
    """A request that asked for no checksum stores none."""
    assert NO_CHECKSUM.verify(None, {}) == {}


def test_a_computed_only_checksum_is_stored_unchecked() -> None:
    """A ChecksumRequest with an algorithm and no value computes the checksum to store."""
    wanted = ChecksumRequest("crc64nvme")
    checksum = wanted.new_checksum()
    assert checksum is not None
    checksum.update(CHECK_INPUT)
    assert wanted.verify(checksum) == {"crc64nvme": b64(CHECK_DIGESTS["crc64nvme"])}


# -- multipart checksum types -------------------------------------------------------


@pytest.mark.parametrize("algorithm", checksums.FULL_OBJECT_ALGORITHMS)
@pytest.mark.parametrize("seed", range(3))
def test_combined_crcs_are_the_crc_of_the_whole(algorithm: str, seed: int) -> None:
    """Combining the CRCs of consecutive blocks gives the CRC of them all (FULL_OBJECT)."""
    rng = random.Random(f"combine-{algorithm}-{seed}")
    blocks = [rng.randbytes(rng.randint(0, 5000)) for _ in range(rng.randint(1, 6))]
    whole = hashed(algorithm, blocks[0]).digest()
    for block in blocks[1:]:
        whole = checksums.combine(algorithm, whole, hashed(algorithm, block).digest(), len(block))
    assert whole == hashed(algorithm, b"".join(blocks)).digest()


@pytest.mark.parametrize(
    ("algorithm", "requested", "expected"),
    [
        (None, None, None),
        ("crc64nvme", None, "FULL_OBJECT"),  # S3 has no composite CRC64NVME
        ("crc32", None, "COMPOSITE"),
        ("sha256", None, "COMPOSITE"),
        ("crc32", "FULL_OBJECT", "FULL_OBJECT"),
        ("crc32c", "full_object", "FULL_OBJECT"),
        ("crc64nvme", "FULL_OBJECT", "FULL_OBJECT"),
        ("sha1", "COMPOSITE", "COMPOSITE"),
    ],
)
def test_upload_checksum_type(
    algorithm: str | None, requested: str | None, expected: str | None
) -> None:
    """The type a multipart upload gets from its algorithm and x-amz-checksum-type."""
    assert checksums.upload_checksum_type(algorithm, requested) == expected


@pytest.mark.parametrize(
    ("algorithm", "requested"),
    [
        ("sha256", "FULL_OBJECT"),
        ("crc64nvme", "COMPOSITE"),
        ("crc32", "PARTIAL"),
        (None, "COMPOSITE"),
    ],
)
def test_an_impossible_checksum_type_is_refused(algorithm: str | None, requested: str) -> None:
    """SHA full-object, composite CRC64NVME, unknown types and a type alone: InvalidRequest."""
    with pytest.raises(InvalidRequest):
        checksums.upload_checksum_type(algorithm, requested)
