"""The renders the policy tests change one field of, each rendered once for the whole folder
(every test copies what it changes)."""

from __future__ import annotations

from typing import Any

import pytest

from bundlecheck.render import render, render_combination
from tests.tools.bundlecheck.policies.bundle_objects import REPO


@pytest.fixture(scope="package")
def cpu_objects() -> list[dict[str, Any]]:
    return render(REPO / "overlays/cpu").objects


@pytest.fixture(scope="package")
def ha_objects() -> list[dict[str, Any]]:
    """overlays/cpu with components/high-availability and components/network-policy."""
    target = "+".join(
        str(REPO / p) for p in ("overlays/cpu", "components/high-availability", "components/network-policy")
    )
    return render_combination(target).objects


@pytest.fixture(scope="package")
def oci_objects() -> list[dict[str, Any]]:
    """overlays/l4 with its model from an OCI image (components/model-source/oci and its example URI)."""
    source = REPO / "components/model-source/oci"
    return render_combination("+".join(str(p) for p in (REPO / "overlays/l4", source / "example", source))).objects


@pytest.fixture(scope="package")
def cached_objects() -> list[dict[str, Any]]:
    """overlays/l4 with components/model-cache."""
    return render_combination(f"{REPO / 'overlays/l4'}+{REPO / 'components/model-cache'}").objects
