"""
The embedding API of docs/embedding.md: what ``import nanio`` offers, and
that importing it stays cheap.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from twisted.web.resource import IResource

import nanio
from nanio.config import Settings, User
from nanio.service import make_service
from nanio.web.resource import make_resource
from nanio.web.site import NanioSite, make_site

PUBLIC = {
    "Settings": Settings,
    "User": User,
    "make_service": make_service,
    "make_resource": make_resource,
    "make_site": make_site,
}


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_name_is_the_documented_object(name: str) -> None:
    """Each public name of nanio is the object the documentation describes."""
    assert getattr(nanio, name) is PUBLIC[name]
    assert name in nanio.__all__


def test_unknown_name_is_an_attribute_error() -> None:
    """A name nanio does not offer raises AttributeError, as for any module."""
    with pytest.raises(AttributeError, match="no attribute 'make_everything'"):
        nanio.make_everything  # noqa: B018


def test_import_nanio_imports_no_twisted() -> None:
    """``import nanio`` alone loads neither Twisted nor nanio's web layer."""
    code = (
        "import sys, nanio; "
        "print(sorted(m for m in sys.modules if m.startswith(('twisted', 'nanio.'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_make_resource_is_a_leaf_resource(tmp_path: Path) -> None:
    """make_resource gives an IResource that owns every path below its mount point."""
    settings = Settings(data_dir=str(tmp_path), users=(User("a", "b"),), fsync=False)
    resource = nanio.make_resource(settings)
    assert IResource.providedBy(resource)
    assert resource.isLeaf


def test_make_site_is_nanio_streaming_site(tmp_path: Path) -> None:
    """make_site gives a NanioSite, the factory that streams request bodies."""
    settings = Settings(data_dir=str(tmp_path), users=(User("a", "b"),), fsync=False)
    assert isinstance(nanio.make_site(settings), NanioSite)
