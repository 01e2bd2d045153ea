"""Request ids and temp file names: the right shape, and never the same twice.

Both come from the random module's generator rather than os.urandom (no
system call per request).  The generator must not repeat itself in a forked
child, where an embedding program's worker would otherwise hand out the
parent's ids and race it for the same temp names.
"""

from __future__ import annotations

import os
import re

from nanio.storage.layout import new_temp_name
from nanio.web.call import new_request_id

_REQUEST_ID = re.compile(r"[0-9A-F]{16}")
_TEMP_NAME = re.compile(r"[0-9a-f]{32}\.tmp")


def test_request_ids_have_s3s_shape_and_differ() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert all(_REQUEST_ID.fullmatch(i) for i in ids), ids[:3]
    assert len(set(ids)) == len(ids)


def test_temp_names_have_their_shape_and_differ() -> None:
    names = [new_temp_name(".tmp") for _ in range(10_000)]
    assert all(_TEMP_NAME.fullmatch(n) for n in names), names[:3]
    assert len(set(names)) == len(names)


def _in_child_and_parent() -> tuple[list[str], list[str]]:
    """The next ids and names a forked child makes, and the parent's next ones."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's exit handlers
        try:
            made = [new_request_id() for _ in range(4)] + [new_temp_name(".new") for _ in range(4)]
            os.write(write_end, " ".join(made).encode("ascii"))
        finally:
            os._exit(0)
    os.close(write_end)
    parent = [new_request_id() for _ in range(4)] + [new_temp_name(".new") for _ in range(4)]
    with os.fdopen(read_end, "rb") as pipe:
        child = pipe.read().decode("ascii").split()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return child, parent


def test_a_forked_child_does_not_repeat_its_parent() -> None:
    child, parent = _in_child_and_parent()
    assert len(child) == 8
    assert set(child).isdisjoint(parent)
