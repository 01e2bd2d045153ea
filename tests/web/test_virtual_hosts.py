"""
Virtual-host addressing (``<bucket>.<base-domain>``), in memory.

Requests go through NanioSite as raw HTTP bytes (routing at ``gotLength``)
and, for the foreign-Site path, through ``make_resource`` under StubTreq.
Every request is signed by botocore for the host it is sent to.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from treq.testing import StubTreq

from nanio.web.site import NanioSite
from tests.support.rawhttp import (
    ACCESS_KEY,
    SECRET_KEY,
    Connection,
    make_test_resource,
    make_test_site,
    raw_request,
    result_of,
    sign,
)

BASE = "s3.nanio.test"
PORT = 9000


def host(bucket: str | None = None) -> str:
    """The Host header for a bucket's virtual host (or the base domain itself)."""
    name = f"{bucket}.{BASE}" if bucket else BASE
    return f"{name}:{PORT}"


def make_site(tmp_path: Path, **overrides: object) -> NanioSite:
    """A NanioSite with the test base domain unless told otherwise."""
    overrides.setdefault("base_domains", (BASE,))
    site, _ = make_test_site(str(tmp_path / "data"), **overrides)
    return site


def parse(output: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of the one response in ``output``."""
    head, _, body = output.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def exchange(
    site: NanioSite, method: str, path: str, host_header: str, body: bytes = b"", **options: Any
) -> tuple[int, dict[str, str], bytes]:
    """Send one signed request on a fresh connection and parse the answer."""
    conn = Connection(site)
    head, payload = raw_request(method, path, body=body, host=host_header, **options)
    conn.send(head + payload)
    return parse(conn.output())


def sign_v2(method: str, url: str, auth_path: str) -> dict[str, str]:
    """The headers botocore's SigV2 signer puts on a request, as boto3 signs virtual hosts."""
    request = AWSRequest(method=method, url=url, auth_path=auth_path)
    request.headers["Date"] = email.utils.formatdate(time.time(), usegmt=True)
    HmacV1Auth(Credentials(ACCESS_KEY, SECRET_KEY)).add_auth(request)
    return dict(request.headers.items())


def exchange_v2(
    site: NanioSite, method: str, path: str, host_header: str, auth_path: str
) -> tuple[int, dict[str, str], bytes]:
    """Send one SigV2-signed bodiless request on a fresh connection and parse the answer."""
    headers = sign_v2(method, f"http://{host_header}{path}", auth_path)
    headers["Host"] = host_header
    lines = [f"{method} {path} HTTP/1.1"] + [f"{name}: {value}" for name, value in headers.items()]
    conn = Connection(site)
    conn.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    return parse(conn.output())


def test_put_on_bucket_host_creates_the_bucket(tmp_path: Path) -> None:
    """PUT / on bucket.base-domain creates that bucket, which path style then sees."""
    site = make_site(tmp_path)
    status, headers, _ = exchange(site, "PUT", "/", host("vbkt"))
    assert status == 200
    assert headers["location"] == "/"
    assert exchange(site, "HEAD", "/vbkt", host())[0] == 200


def test_object_put_virtually_is_read_path_style(tmp_path: Path) -> None:
    """An object PUT to bucket.base-domain/key is the same object as /bucket/key."""
    site = make_site(tmp_path)
    exchange(site, "PUT", "/", host("vbkt"))
    body = b"virtual bytes"
    status, headers, _ = exchange(site, "PUT", "/dir/key", host("vbkt"), body, payload_hash="hash")
    assert status == 200
    assert headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    status, _, content = exchange(site, "GET", "/vbkt/dir/key", host())
    assert (status, content) == (200, body)


def test_object_put_path_style_is_read_virtually(tmp_path: Path) -> None:
    """An object PUT to /bucket/key is read back from bucket.base-domain/key."""
    site = make_site(tmp_path)
    exchange(site, "PUT", "/vbkt", host())
    exchange(site, "PUT", "/vbkt/k", host(), b"path bytes", payload_hash="hash")
    status, _, content = exchange(site, "GET", "/k", host("vbkt"))
    assert (status, content) == (200, b"path bytes")


def test_get_root_of_bucket_host_lists_its_objects(tmp_path: Path) -> None:
    """GET / on bucket.base-domain is ListObjects of that bucket, not ListBuckets."""
    site = make_site(tmp_path)
    exchange(site, "PUT", "/", host("vbkt"))
    exchange(site, "PUT", "/listed", host("vbkt"), b"x", payload_hash="hash")
    status, _, content = exchange(site, "GET", "/?list-type=2", host("vbkt"))
    assert status == 200
    assert b"<ListBucketResult" in content
    assert b"<Name>vbkt</Name>" in content
    assert b"<Key>listed</Key>" in content


def test_get_root_of_base_domain_lists_buckets(tmp_path: Path) -> None:
    """GET / on the base domain itself is ListBuckets."""
    site = make_site(tmp_path)
    exchange(site, "PUT", "/", host("vbkt"))
    status, _, content = exchange(site, "GET", "/", host())
    assert status == 200
    assert b"<ListAllMyBucketsResult" in content
    assert b"<Name>vbkt</Name>" in content


def test_host_name_case_and_port_do_not_matter(tmp_path: Path) -> None:
    """A Host of VBKT.S3.NANIO.TEST without a port names bucket vbkt."""
    site = make_site(tmp_path)
    exchange(site, "PUT", "/vbkt", host())
    exchange(site, "PUT", "/vbkt/k", host(), b"abc", payload_hash="hash")
    # SigV2 does not sign the Host header, so its case is the client's own.
    status, _, content = exchange_v2(site, "GET", "/k", "VBKT.S3.NANIO.TEST", "/vbkt/k")
    assert (status, content) == (200, b"abc")


def test_bucket_name_with_dots_works(tmp_path: Path) -> None:
    """my.bucket.s3.nanio.test addresses bucket "my.bucket"."""
    site = make_site(tmp_path)
    assert exchange(site, "PUT", "/", host("my.bucket"))[0] == 200
    exchange(site, "PUT", "/k", host("my.bucket"), b"dotted", payload_hash="hash")
    status, _, content = exchange(site, "GET", "/my.bucket/k", host())
    assert (status, content) == (200, b"dotted")


def test_key_with_leading_slash_is_refused_as_in_path_style(tmp_path: Path) -> None:
    """A virtual-host path "//lead" is the key "/lead", refused like path-style /vbkt//lead."""
    site = make_site(tmp_path)
    exchange(site, "PUT", "/", host("vbkt"))
    virtual = exchange(site, "PUT", "//lead", host("vbkt"), b"x", payload_hash="hash")
    path_style = exchange(site, "PUT", "/vbkt//lead", host(), b"x", payload_hash="hash")
    assert virtual[0] == path_style[0] == 400
    assert b"<Code>InvalidArgument</Code>" in virtual[2]
    assert b"<Resource>/vbkt//lead</Resource>" in virtual[2]


def test_without_base_domain_every_host_is_path_style(tmp_path: Path) -> None:
    """With no base domain configured, GET / on a bucket-like host is still ListBuckets."""
    site = make_site(tmp_path, base_domains=())
    exchange(site, "PUT", "/vbkt", host("vbkt"))
    status, _, content = exchange(site, "GET", "/", host("vbkt"))
    assert status == 200
    assert b"<ListAllMyBucketsResult" in content


def test_other_hosts_stay_path_style(tmp_path: Path) -> None:
    """A Host outside the base domain (an IP address here) is path style."""
    site = make_site(tmp_path)
    exchange(site, "PUT", "/vbkt", "127.0.0.1:9000")
    status, _, content = exchange(site, "GET", "/vbkt?list-type=2", "127.0.0.1:9000")
    assert status == 200
    assert b"<Name>vbkt</Name>" in content


@pytest.mark.parametrize(
    ("bucket", "code", "named"),
    [
        # The key is named /bucket/key in the error's Resource.
        pytest.param("vbkt", "NoSuchKey", b"<Resource>/vbkt/missing</Resource>", id="key"),
        pytest.param("nobucket", "NoSuchBucket", b"<BucketName>nobucket</BucketName>", id="bucket"),
    ],
)
def test_missing_key_or_bucket_host_answers_404_naming_it(
    tmp_path: Path, bucket: str, code: str, named: bytes
) -> None:
    """A missing key on a bucket's host, or an unknown bucket's host, answers 404 naming it."""
    site = make_site(tmp_path)
    exchange(site, "PUT", "/", host("vbkt"))
    status, _, content = exchange(site, "GET", "/missing", host(bucket))
    assert status == 404
    assert f"<Code>{code}</Code>".encode() in content
    assert named in content


def test_signature_over_path_style_address_is_refused(tmp_path: Path) -> None:
    """A request signed for /bucket/key but sent to bucket.base-domain/key is refused."""
    site = make_site(tmp_path)
    exchange(site, "PUT", "/", host("vbkt"))
    conn = Connection(site)
    head, _ = raw_request("GET", "/vbkt/k", host=host("vbkt"))
    conn.send(head.replace(b"GET /vbkt/k ", b"GET /k ", 1))
    status, _, content = parse(conn.output())
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in content


def test_sigv2_virtual_host_request_is_accepted(tmp_path: Path) -> None:
    """A SigV2 request to bucket.base-domain/key, signed over /bucket/key as boto3 does, works."""
    site = make_site(tmp_path)
    exchange(site, "PUT", "/vbkt", host())
    exchange(site, "PUT", "/vbkt/k", host(), b"v2", payload_hash="hash")
    status, _, content = exchange_v2(site, "GET", "/k", host("vbkt"), "/vbkt/k")
    assert (status, content) == (200, b"v2")


def stub_call(stub: StubTreq, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request to bucket vbkt's virtual host through StubTreq: (status, body)."""
    headers = sign(method, path, body=body, payload_hash="hash", host=host("vbkt"))
    url = f"http://{host('vbkt')}{path}"
    response = result_of(stub, stub.request(method, url, headers=headers, data=body or None))
    return response.code, result_of(stub, response.content())


def test_foreign_site_routes_virtual_hosts_too(tmp_path: Path) -> None:
    """make_resource in a plain Site addresses bucket.base-domain/key like NanioSite does."""
    stub = StubTreq(make_test_resource(str(tmp_path / "data"), base_domains=(BASE,)))
    assert stub_call(stub, "PUT", "/")[0] == 200
    assert stub_call(stub, "PUT", "/k", b"foreign")[0] == 200
    assert stub_call(stub, "GET", "/k") == (200, b"foreign")
