"""
What every handler needs: the store, the settings, the users and the clock,
plus the small response helpers they share.

Handlers call storage and ``nanio.s3.xml``; they never build XML or paths by
hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from nanio import errors

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from nanio.config import Settings
    from nanio.credentials import Credentials
    from nanio.storage import Store
    from nanio.web.call import S3Call
    from nanio.web.spool import Offload

XML_CONTENT_TYPE = b"application/xml"

T = TypeVar("T")


@dataclass
class Context:
    store: Store
    settings: Settings
    credentials: Credentials
    clock: IReactorTime
    #: Runs blocking work (joining multipart parts) on the disk thread pool;
    #: None runs it inline.
    offload: Offload | None = None
    _owner_ids: dict[str, str] = field(default_factory=dict)

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` off the reactor thread when a pool is available."""
        if self.offload is None:
            return fn(*args)
        result: T = await self.offload(fn, *args)
        return result

    def owner(self, call: S3Call) -> tuple[str, str]:
        """The (canonical id, display name) S3 shows for the caller."""
        access_key = call.auth.access_key if call.auth is not None else ""
        owner_id = self._owner_ids.get(access_key)
        if owner_id is None:
            # S3 canonical user ids are 64 hex digits; derive a stable one.
            owner_id = hashlib.sha256(access_key.encode("utf-8")).hexdigest()
            self._owner_ids[access_key] = owner_id
        return owner_id, access_key

    def recorded_owner(self, call: S3Call) -> str | None:
        """The owner to record for what the caller creates: only multi-user stores record one."""
        if call.auth is None or not self.credentials.multi_user:
            return None
        return call.auth.access_key

    def can_see(self, access_key: str, owner: str | None) -> bool:
        """Whether this user may see and use a bucket with this owner."""
        return may_access(self.credentials, access_key, owner)


def may_access(credentials: Credentials, access_key: str, owner: str | None) -> bool:
    """Whether a user may use a bucket: buckets belong to their creator on multi-user stores."""
    if owner is None or owner == access_key or not credentials.multi_user:
        return True
    return credentials.is_admin(access_key)


def xml_response(request: Any, body: bytes, status: int = 200) -> bytes:
    """Answer with an S3 XML document."""
    request.setResponseCode(status)
    request.setHeader(b"content-type", XML_CONTENT_TYPE)
    return body


def no_content(request: Any) -> bytes:
    request.setResponseCode(204)
    return b""


def refuse_canned_acl(call: S3Call) -> None:
    """Accept only the ``private`` canned ACL: nanio has no other permissions."""
    acl = call.header("x-amz-acl")
    if acl is not None and acl != "private":
        raise errors.S3NotImplemented(
            "Only the 'private' canned ACL is supported: nanio has no public access."
        )


def tags_not_supported() -> errors.S3NotImplemented:
    """The answer to a request asking nanio to keep tags."""
    return errors.S3NotImplemented(
        "Object and bucket tags are not supported: nanio stores no tags."
    )


def refuse_tags(call: S3Call) -> None:
    """Refuse an upload or copy that asks for object tags: nanio stores none."""
    # x-amz-tagging is a query string ("a=1&b=2"); empty means no tags.
    if (call.header("x-amz-tagging") or "").strip():
        raise tags_not_supported()
