"""
Who may sign requests: access key to user, built once from the settings.

The lookup runs on every signed request, so it is one dict probe.  The object
is immutable: credentials change only by restarting with new settings.

No Twisted imports here, and no secret ever leaves through ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from nanio.config import User


class Credentials:
    """An immutable access-key table."""

    __slots__ = ("_by_key", "_multi_user")

    _by_key: Mapping[str, User]
    _multi_user: bool

    def __init__(self, users: Iterable[User]) -> None:
        by_key: dict[str, User] = {}
        for user in users:
            if user.access_key in by_key:
                # load_settings refuses this with a friendlier sentence; an
                # embedder building Settings by hand gets this instead.
                raise ValueError(f"access key {user.access_key!r} is defined twice")
            by_key[user.access_key] = user
        object.__setattr__(self, "_by_key", MappingProxyType(by_key))
        object.__setattr__(self, "_multi_user", len(by_key) > 1)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Credentials are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Credentials are immutable")

    def __repr__(self) -> str:
        return f"Credentials(access_keys={sorted(self._by_key)!r})"

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, access_key: object) -> bool:
        return access_key in self._by_key

    def secret_for(self, access_key: str) -> str | None:
        """The secret key of this access key, or None for an unknown key."""
        user = self._by_key.get(access_key)
        return None if user is None else user.secret_key

    def user(self, access_key: str) -> User | None:
        """The user owning this access key, or None."""
        return self._by_key.get(access_key)

    def is_admin(self, access_key: str) -> bool:
        """Whether this access key belongs to an admin (unknown keys are not)."""
        user = self._by_key.get(access_key)
        return user is not None and user.admin

    @property
    def multi_user(self) -> bool:
        """More than one user: buckets then belong to whoever created them."""
        return self._multi_user
