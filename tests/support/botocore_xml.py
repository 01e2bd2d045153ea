"""
What botocore makes of S3's XML: its REST-XML parser and serializer over the
S3 service model, and the fixed values the XML tests render documents with.

Only test code uses this module; nanio's XML is checked against it, never
the other way round.
"""

from __future__ import annotations

import datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

# Wed, 25 Nov 2026 01:02:03 GMT
EPOCH = 1_795_568_523
WHEN = datetime.datetime(2026, 11, 25, 1, 2, 3, tzinfo=datetime.UTC)
ETAG = "d41d8cd98f00b204e9800998ecf8427e"
OWNER_ID = "AKIAEXAMPLE"
OWNER_NAME = "alice"

#: Names that need escaping or encoding on the way out.
AWKWARD_KEYS = [
    "a&b<c>d",
    "sp ace+plus",
    "per%cent",
    "ü/ñ",
    "quo\"te's",
    "tab\tnew\nline",
    "q?h#=;",
]


@cache
def service_model() -> ServiceModel:
    """botocore's S3 service model, loaded once."""
    return botocore.session.get_session().get_service_model("s3")


def parse(operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    """Parse a response body the way botocore does for ``operation``."""
    parser = create_parser("rest-xml")
    response = {"status_code": status, "headers": {}, "body": body}
    parsed: dict[str, Any] = parser.parse(
        response, service_model().operation_model(operation).output_shape
    )
    return parsed


def serialize(operation: str, params: dict[str, Any], *, validate: bool = True) -> bytes:
    """Build the request body botocore sends for ``operation``."""
    serializer = create_serializer("rest-xml", include_validation=validate)
    request = serializer.serialize_to_request(params, service_model().operation_model(operation))
    body: bytes = request["body"]
    return body
