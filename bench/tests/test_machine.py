"""What run.py and large_objects.py record about the machine: the data's file system."""

from __future__ import annotations

from pathlib import Path

import large_objects
import report

MOUNTS = """\
/dev/vda / ext4 rw,relatime,discard 0 0
tmpfs /tmp/ram tmpfs rw,size=1024k 0 0
/dev/loop3 /mnt/with\\040space ext4 rw,relatime 0 0
/dev/loop4 /mnt/other ext4 rw 0 0
/dev/loop5 /mnt/other ext4 rw,noatime 0 0
"""


def _fake_system(tmp_path: Path) -> tuple[Path, Path]:
    """A mounts file and a /sys/fs/ext4 tree: vda has no journal, loop3 one, loop5 unknown."""
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS, encoding="utf-8")
    sys_ext4 = tmp_path / "ext4"
    for device, task in (("vda", "<none>"), ("loop3", "10804")):
        (sys_ext4 / device).mkdir(parents=True)
        (sys_ext4 / device / "journal_task").write_text(task + "\n", encoding="ascii")
    return mounts, sys_ext4


def test_data_filesystem_is_the_longest_mount_point_holding_the_path(tmp_path: Path) -> None:
    mounts, sys_ext4 = _fake_system(tmp_path)
    found = large_objects.data_filesystem(Path("/srv/nanio-bench"), mounts, sys_ext4)
    assert found == {
        "mount_point": "/",
        "device": "/dev/vda",
        "type": "ext4",
        "options": "rw,relatime,discard",
        "journal": False,
    }
    ram = large_objects.data_filesystem(Path("/tmp/ram/bench"), mounts, sys_ext4)
    assert ram is not None
    assert (ram["type"], ram["journal"]) == ("tmpfs", None)
    # /tmp/ramdisk is not inside /tmp/ram.
    assert large_objects.data_filesystem(Path("/tmp/ramdisk"), mounts, sys_ext4)["type"] == "ext4"


def test_data_filesystem_reads_escaped_names_and_the_mount_on_top(tmp_path: Path) -> None:
    mounts, sys_ext4 = _fake_system(tmp_path)
    spaced = large_objects.data_filesystem(Path("/mnt/with space/b"), mounts, sys_ext4)
    assert spaced is not None
    assert (spaced["mount_point"], spaced["journal"]) == ("/mnt/with space", True)
    # Two mounts at one point: the later one hides the earlier; no sysfs entry, no answer.
    other = large_objects.data_filesystem(Path("/mnt/other"), mounts, sys_ext4)
    assert other is not None
    assert (other["device"], other["options"], other["journal"]) == (
        "/dev/loop5",
        "rw,noatime",
        None,
    )


def test_data_filesystem_without_a_mount_table_is_unknown(tmp_path: Path) -> None:
    assert large_objects.data_filesystem(Path("/srv"), tmp_path / "missing", tmp_path) is None


def test_filesystem_text_names_type_journal_and_options() -> None:
    text = report.filesystem_text(
        {
            "mount_point": "/",
            "device": "/dev/vda",
            "type": "ext4",
            "options": "rw,discard",
            "journal": False,
        }
    )
    assert text == "ext4 without a journal on /dev/vda, mounted at / (rw,discard)"
    assert report.filesystem_text(None) == "file system not known"
